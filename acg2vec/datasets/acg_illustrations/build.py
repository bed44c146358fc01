"""Run the ``acg_illustrations`` build: Beam pipeline -> TFRecord shards -> TFDS metadata -> published folder.

Why not TFDS's own Beam writer: it shuffles examples with a group-by, and Beam's local runner holds every
group-by in memory, so a 100,000-image build would need the whole dataset in RAM. Here the posts go through
the bucket passes of :class:`~acg2vec.datasets.acg_illustrations.transforms.BuildImageExamples` (bucket files
under ``<incomplete folder>/_buckets/``, sized by :func:`~acg2vec.datasets.acg_illustrations.transforms.bucket_count`, deleted once the pipeline succeeded), and
the images of each split go from its last pass straight into Beam's file sink, which writes one shard per bundle
and starts a new one at ``shard_bytes`` (no group-by: only file names are collected). Dead letters are written
per step, as ``dead_letters/<step>-*.jsonl.gz``. The shard lengths are then read back by TFDS
(``tfds.folder_dataset.compute_split_info``) and written into the dataset's ``dataset_info.json``. Examples
inside a shard keep their bundle order; readers shuffle with ``shuffle_files=True`` and a shuffle buffer.

An interrupted build never looks complete: the build holds the dataset's lock, writes into
``<config>/.incomplete-<version>-<id>/`` and swaps it in for ``<config>/<version>/`` only after the pipeline
succeeded and the metadata was written (:mod:`acg2vec.beam_pipelines.publish`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass

import apache_beam as beam

from acg2vec.beam_pipelines import files, publish, raw_io, raw_shards
from acg2vec.beam_pipelines.buckets import BUCKETS_DIR, bucket_writers
from acg2vec.beam_pipelines.dead_letters import DEAD, metric_counts, write_dead_letters_by_step
from acg2vec.beam_pipelines.options import (
    BuildOptions,
    dataflow_dry_run_config,
    describe_dataflow_job,
    pipeline_options,
    run_to_completion,
)
from acg2vec.beam_pipelines.publish import BuildResult
from acg2vec.beam_pipelines.tfrecord_shards import TFRecordShardSink, split_shards
from acg2vec.datasets.acg_illustrations.acg_illustrations_dataset_builder import Builder
from acg2vec.datasets.acg_illustrations.card import write_tfds_metadata
from acg2vec.datasets.acg_illustrations.curated import (
    ApplyCuration,
    curated_counts,
    curation_edits,
    example_tags,
    recounted_vocabulary_csv,
    step_name,
)
from acg2vec.datasets.acg_illustrations.curation_files import (
    check_run_for,
    duplicate_counts,
    read_duplicates,
    read_label_issues,
)
from acg2vec.datasets.acg_illustrations.rebuild import rebuild_command
from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig, record_to_example
from acg2vec.datasets.acg_illustrations.schema import BUILD_COUNTS_FILE, NAME, SELECTED_TAGS_FILE, features_for_size
from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary, csv_sha256
from acg2vec.datasets.acg_illustrations.transforms import BuildImageExamples, bucket_count, write_side_outputs
from acg2vec.datasets.versions import TFDS_MARKER, newest_dataset_dir, next_patch_version, read_dataset_info
from acg2vec.errors import UserError
from acg2vec.integrity import disk_full_is_one_sentence
from acg2vec.workspace import Workspace

log = logging.getLogger(__name__)

COMMAND = "acg2vec build images"
DRY_RUN_BUCKETS = 64  # the dry run reads no input, so it cannot size the buckets


def output_dir(workspace: Workspace, size: int) -> str:
    """``<workdir>/datasets/acg_illustrations/<size>/<version>``."""
    return files.join(workspace.datasets(), NAME, str(size), str(Builder.VERSION))


def serialize_example(features, record_and_jpeg) -> bytes:
    return features.serialize_example(record_to_example(*record_and_jpeg))


def build_pipeline(
    pipeline: beam.Pipeline,
    raw_root: str,
    out_dir: str,
    config: ImageBuildConfig,
    *,
    num_buckets: int,
    local: bool,
    shards: dict[str, list[str]] | None = None,
):
    """Add the build to ``pipeline``: examples -> TFRecord shards per split, side outputs into ``out_dir``.
    ``shards``: the checked raw shards by item kind (None: by pattern, for a job described and not run)."""
    # Locally every bucket keeps its file open (a spill would go to an in-memory group-by); a distributed
    # runner keeps Beam's default and shuffles the rest.
    outputs = pipeline | "BuildImageExamples" >> BuildImageExamples(
        raw_root,
        config,
        files.join(out_dir, BUCKETS_DIR),
        num_buckets=num_buckets,
        shards=shards,
        **bucket_writers(num_buckets, local=local),
    )
    features = features_for_size(config.size)
    for name, images in outputs.images.items():
        label = name.capitalize()
        shards = TFRecordShardSink(
            files.join(out_dir, f"{NAME}-{name}.tfrecord"), max_bytes_per_shard=config.shard_bytes
        )
        _ = (
            images
            | f"Serialize{label}" >> beam.Map(lambda ri: serialize_example(features, ri))
            | f"WriteShards{label}" >> beam.io.Write(shards)
        )
    write_side_outputs(outputs, out_dir)
    return outputs


RAW_KINDS = (("safebooru", "post"), ("safebooru", "tag"), ("pixiv", "illust"))  # what the build reads


def check_inputs(raw_root: str, command: str, *, skip_damaged: bool) -> tuple[raw_shards.ShardCheck, dict]:
    """Check the build's raw shards whole (:func:`~acg2vec.beam_pipelines.raw_shards.check_raw_shards`); returns
    the check and the shards to read by item kind. No readable post shard left is one sentence."""
    patterns = {kind: raw_io.shard_pattern(files.join(raw_root, source), kind) for source, kind in RAW_KINDS}
    found = {kind: files.match(pattern) for kind, pattern in patterns.items()}
    checked = raw_shards.check_raw_shards(
        sorted(f for listed in found.values() for f in listed),
        command=command,
        skip_damaged=skip_damaged,
        patterns=patterns.values(),
    )
    good = set(checked.paths)
    shards = {kind: [path for path, _ in listed if path in good] for kind, listed in found.items()}
    if not shards["post"]:
        raise UserError(f"Every post shard under {raw_root} is damaged; re-fetch them with `acg2vec crawl safebooru`.")
    return checked, shards


def builder_for(size: int) -> Builder:
    if str(size) not in Builder.builder_configs:
        raise UserError(f"No builder config for size {size}; choose one of {sorted(Builder.builder_configs)}.")
    return Builder(config=str(size))


def check_counts_add_up(counts: dict, metrics: dict[str, int]) -> None:
    """Lines read (a counter of its own) must equal examples written + posts dropped."""
    posts = counts.get("posts", {"read": 0, "written": 0, "dropped": 0})
    read = metrics.get("Posts-read")
    posts["lines_read"] = read
    if read is not None and read != posts["written"] + posts["dropped"]:
        raise RuntimeError(
            f"counts do not add up: read {read} != written {posts['written']} + dropped {posts['dropped']}"
        )


def build(workspace: Workspace, config: ImageBuildConfig, *, options: BuildOptions | None = None) -> BuildResult:
    """Build ``acg_illustrations/<size>`` from ``workspace``'s raw/ folder and publish it under datasets/.

    ``options.buckets`` 0 sizes the buckets from the input (:func:`~acg2vec.datasets.acg_illustrations.transforms.bucket_count`); the examples are the same for
    any count. ``options.dry_run_dataflow``: describe the job for Dataflow into that JSON file instead.
    """
    options = options or BuildOptions()
    raw_root = workspace.raw()
    posts = raw_io.shard_pattern(files.join(raw_root, "safebooru"), "post")
    builder = builder_for(config.size)
    final_dir = output_dir(workspace, config.size)
    if options.dry_run_dataflow:
        return _describe_dataflow_job(raw_root, final_dir, config, options)
    if not raw_io.has_shards(posts):
        raise UserError(f"No posts to build from: nothing matches {posts}. Run `acg2vec crawl safebooru` first.")
    beam_options = pipeline_options(options.runner)  # a wrong runner argument fails before anything is written
    start = time.monotonic()
    # 0. Every raw shard checked whole: a damaged one is refused, or with --skip-damaged left out and recorded.
    checked, shards = check_inputs(raw_root, f"{COMMAND} --config {config.size}", skip_damaged=options.skip_damaged)
    with disk_full_is_one_sentence(final_dir), publish.DatasetLock(final_dir, f"{COMMAND} --config {config.size}"):
        # 1. A fresh incomplete folder beside the published one (leftovers of killed builds removed).
        publish.remove_leftovers(final_dir)
        tmp_dir = publish.incomplete_dir(final_dir)
        num_buckets = options.buckets or bucket_count(raw_root)
        files.mkdirs(tmp_dir)
        # 2. The pipeline: shards, vocabulary, counts and dead letters into the incomplete folder.
        pipeline = beam.Pipeline(options=beam_options)
        build_pipeline(
            pipeline, raw_root, tmp_dir, config, num_buckets=num_buckets, local=options.runner.is_local, shards=shards
        )
        log.info(
            "Building %s/%s from %s (runner: %s, %d buckets)",
            NAME,
            config.size,
            raw_root,
            options.runner.runner,
            num_buckets,
        )
        metrics = metric_counts(run_to_completion(pipeline, tmp_dir))
        if not options.keep_temp:
            files.delete([files.join(tmp_dir, BUCKETS_DIR)])
        # 3. The books: posts read = written + dropped, or the build fails here, unpublished.
        counts = json.loads(files.read_text(files.join(tmp_dir, BUILD_COUNTS_FILE)))
        check_counts_add_up(counts, metrics)
        counts["raw_shards"] = checked.record()
        raw_shards.write_dead_letters(tmp_dir, checked)
        # 4. TFDS metadata and the dataset card; then the folder is swapped in whole.
        splits = write_tfds_metadata(tmp_dir, builder.info, config, counts)
        publish.publish(tmp_dir, final_dir, marker=TFDS_MARKER)
    posts_counts = counts.get("posts", {})
    order = config.splits.names  # the examples per split in the config's order (train first)
    splits = dict(sorted(splits.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))
    return BuildResult(
        dataset=f"{NAME}/{config.size}",
        out_dir=final_dir,
        unit="images",
        splits=splits,
        balances={
            **raw_shards.raw_shard_balance(counts.get("raw_shards")),
            "posts": (
                posts_counts.get("lines_read") or posts_counts.get("read", 0),
                posts_counts.get("written", 0),
                posts_counts.get("dropped", 0),
            ),
        },
        drops=dict(posts_counts.get("by_reason", {})),
        counts=counts,
        metrics=metrics,
        outputs={"card": files.join(final_dir, "README.md")},
        seconds=time.monotonic() - start,
        buckets=num_buckets,
    )


def _describe_dataflow_job(raw_root: str, final_dir: str, config: ImageBuildConfig, options: BuildOptions):
    """Build the Dataflow job for this build and write its description to the dry-run file; submit nothing."""
    start = time.monotonic()
    num_buckets = options.buckets or DRY_RUN_BUCKETS
    pipeline = beam.Pipeline(options=pipeline_options(dataflow_dry_run_config(options.runner)))
    out_dir = final_dir.rsplit("/", 1)[0] + "/.incomplete-dataflow"
    build_pipeline(pipeline, raw_root, out_dir, config, num_buckets=num_buckets, local=False)
    describe_dataflow_job(pipeline, options.dry_run_dataflow, output=final_dir)
    return BuildResult(
        dataset=f"{NAME}/{config.size}",
        out_dir=final_dir,
        unit="images",
        seconds=time.monotonic() - start,
        job_file=options.dry_run_dataflow,
        buckets=num_buckets,
    )


@dataclass(frozen=True, slots=True)
class CurationChoice:
    """What ``acg2vec build images --apply-curation`` applies: the run folder, the label issues at or above
    ``min_confidence`` of ``kinds``, and whether near-duplicates are dropped (one post kept per group)."""

    run_dir: str
    min_confidence: float
    drop_duplicates: bool = False
    kinds: tuple[str, ...] = ("missing", "wrong")


def source_version_dir(workspace: Workspace, config: str, version: str | None = None) -> str:
    """The version a curation is applied to: ``version`` of ``acg_illustrations/<config>``, or its newest."""
    config_dir = files.join(workspace.datasets(), NAME, config)
    if version is not None:
        return publish.require_complete(
            files.join(config_dir, version), marker=TFDS_MARKER, build_command=f"{COMMAND} --config {config}"
        )
    found = newest_dataset_dir(config_dir)
    if found is None:
        raise UserError(
            f"No dataset {NAME}/{config} to apply a curation run to; build it with `{COMMAND} --config {config}` "
            "and curate it with `acg2vec curate` first."
        )
    return found


def apply_curation(
    workspace: Workspace,
    choice: CurationChoice,
    *,
    config: str,
    version: str | None = None,
    options: BuildOptions | None = None,
) -> BuildResult:
    """Write a new version of ``acg_illustrations/<config>`` from ``version`` (default: the newest) with the fixes of
    a curation run made for it (:mod:`acg2vec.datasets.acg_illustrations.curated`). The source version, its raw
    crawl and the run are never changed. A run made for another version (or another build of it) is a
    :class:`UserError`.
    """
    options = options or BuildOptions()
    if not 0.0 <= choice.min_confidence <= 1.0:
        raise UserError(f"--min-confidence must lie between 0 and 1, not {choice.min_confidence}.")
    start = time.monotonic()
    # 1. The source version, and the run checked against it (name, config, version and content hash).
    source = source_version_dir(workspace, config, version)
    # a damaged dataset_info.json of the source is the damaged-file sentence, not a traceback further down
    source_info = read_dataset_info(source, repair=rebuild_command(source, config=config))
    manifest = check_run_for(choice.run_dir, source)
    # 2. The edits: label issues above the threshold, duplicate groups when asked to drop them.
    vocabulary = TagVocabulary.read(files.join(source, SELECTED_TAGS_FILE))
    issues = read_label_issues(choice.run_dir, min_confidence=choice.min_confidence, kinds=choice.kinds)
    members = read_duplicates(choice.run_dir)
    split_names = sorted(split_shards(source, NAME), key=_split_rank)
    edits, skipped = curation_edits(
        issues,
        members if choice.drop_duplicates else members.iloc[0:0],
        dict(zip(vocabulary.names, vocabulary.categories, strict=True)),
        split_order=split_names,
    )
    source_version = source.rstrip("/").rsplit("/", 1)[-1]
    config_dir = source.rstrip("/").rsplit("/", 1)[0]
    final_dir = files.join(config_dir, next_patch_version(config_dir, source_version))
    beam_options = pipeline_options(options.runner)
    with publish.DatasetLock(final_dir, f"{COMMAND} --config {config} --apply-curation {choice.run_dir}"):
        publish.remove_leftovers(final_dir)
        tmp_dir = publish.incomplete_dir(final_dir)
        files.mkdirs(tmp_dir)
        # 3. The pipeline: each split's shards read, edited, written; near-duplicates dead-lettered.
        pipeline = beam.Pipeline(options=beam_options)
        dead = {}
        for split in split_names:
            label = split.capitalize()
            outputs = (
                pipeline
                | f"Read{label}" >> beam.io.ReadFromTFRecord(files.join(source, f"{NAME}-{split}.tfrecord-*"))
                | f"ApplyCuration{label}"
                >> beam.ParDo(ApplyCuration(edits, split)).with_outputs(DEAD, main="examples")
            )
            sink = TFRecordShardSink(files.join(tmp_dir, f"{NAME}-{split}.tfrecord"), max_bytes_per_shard=SHARD_BYTES)
            _ = outputs.examples | f"WriteShards{label}" >> beam.io.Write(sink)
            dead[step_name(split)] = outputs[DEAD]
            if split == "train":  # the vocabulary's counts after the fixes (tag names only cross stages)
                _ = (
                    outputs.examples
                    | "TrainTags" >> beam.FlatMap(example_tags)
                    | "CountTags" >> beam.combiners.Count.PerElement()
                    | "AllTagCounts" >> beam.combiners.ToList()
                    | "WriteVocabulary"
                    >> beam.Map(
                        lambda counts: _write_vocabulary(tmp_dir, recounted_vocabulary_csv(vocabulary, counts))
                    )
                )
        write_dead_letters_by_step(tmp_dir, dead)
        log.info(
            "Applying %s to %s (%d posts to edit, %d to drop)", choice.run_dir, source, _n(edits), len(edits.drop)
        )
        metrics = metric_counts(run_to_completion(pipeline, tmp_dir))
        # 4. The books: per split, read = written + dropped, and every source example read.
        counts = curated_counts(metrics, split_names)
        _check_curated_counts(source_info, counts)
        # 5. The vocabulary (the source's tags in its order, recounted on the curated train split; copied when there
        #    is no train split), the metadata with the curation applied, the card; then the folder is swapped in.
        if "train" not in split_names:
            _write_vocabulary(tmp_dir, vocabulary.to_csv())
        curation = _curation_record(manifest, choice, members, skipped, set(edits.drop))
        new_version = final_dir.rstrip("/").rsplit("/", 1)[-1]
        splits = write_tfds_metadata(
            tmp_dir, _derived_info(source, new_version), _source_build_config(source), counts, curation=curation
        )
        publish.publish(tmp_dir, final_dir, marker=TFDS_MARKER)
    posts = counts["posts"]
    return BuildResult(
        dataset=f"{NAME}/{config}",
        out_dir=final_dir,
        unit="images",
        splits={name: splits.get(name, 0) for name in split_names},
        balances={"posts": (posts["read"], posts["written"], posts["dropped"])},
        drops=dict(posts["by_reason"]),
        counts=counts,
        metrics=metrics,
        outputs={"card": files.join(final_dir, "README.md"), "curated from": source},
        seconds=time.monotonic() - start,
    )


SHARD_BYTES = ImageBuildConfig().shard_bytes


def _write_vocabulary(out_dir: str, text: str) -> None:
    files.write_text(files.join(out_dir, SELECTED_TAGS_FILE), text)
    files.write_text(files.join(out_dir, SELECTED_TAGS_FILE + ".sha256"), csv_sha256(text) + "\n")


def _n(edits) -> int:
    return len(set(edits.add) | set(edits.remove))


def _split_rank(name: str) -> tuple[int, str]:
    order = ("train", "validation", "test", "holdout")
    return (order.index(name) if name in order else len(order), name)


def _check_curated_counts(info: dict, counts: dict) -> None:
    """Every example of the source (its ``dataset_info.json``) read, and read = written + dropped."""
    expected = sum(int(n) for split in info.get("splits", []) for n in split.get("shardLengths", []))
    posts = counts["posts"]
    if posts["read"] != expected or posts["read"] != posts["written"] + posts["dropped"]:
        raise RuntimeError(
            f"counts do not add up: {expected} examples in the source, read {posts['read']}, "
            f"written {posts['written']} + dropped {posts['dropped']}"
        )


def _derived_info(source: str, version: str):
    """A fresh ``DatasetInfo`` for a version derived from ``source``: its features, description and config, the new
    version (the source's info is read-only once loaded)."""
    import tensorflow_datasets as tfds

    src = tfds.builder_from_directory(source).info
    identity = tfds.core.DatasetIdentity(
        name=src.name,
        version=tfds.core.Version(version),
        data_dir=source.rstrip("/").rsplit("/", 1)[0],
        module_name="",
        config_name=src.config_name or None,
        config_description=src.config_description or None,
    )
    return tfds.core.DatasetInfo(
        builder=identity,
        description=src.description,
        features=src.features,
        homepage=src.homepage,
        metadata=tfds.core.MetadataDict(),
    )


def _source_build_config(source: str) -> dict:
    path = files.join(source, "metadata.json")
    if not files.exists(path):
        return {}
    return json.loads(files.read_text(path)).get("build_config", {})


def _curation_record(manifest, choice: CurationChoice, members, skipped: dict, dropped: set[int]) -> dict:
    """What the curated version's metadata and card say about the run: what it was made for, the thresholds, the
    run's own parameters and counts, and the split leak of its duplicate groups before and after."""
    written = members[~members["post_id"].isin(dropped)]
    written = written[written.groupby("group_id")["post_id"].transform("size") > 1]
    before, after = duplicate_counts(members), duplicate_counts(written)
    return {
        "run": manifest.run,
        "run_dir": choice.run_dir,
        "made_for": asdict(manifest.dataset),
        "min_confidence": choice.min_confidence,
        "kinds": list(choice.kinds),
        "drop_duplicates": choice.drop_duplicates,
        "run_parameters": manifest.parameters,
        "run_counts": manifest.counts,
        "skipped": {k: v for k, v in skipped.items() if v},
        "leak": {
            "train_test_pairs_before": before["train_test_pairs"],
            "train_test_pairs_after": after["train_test_pairs"],
            "cross_split_pairs_before": before["cross_split_pairs"],
            "cross_split_pairs_after": after["cross_split_pairs"],
        },
    }
