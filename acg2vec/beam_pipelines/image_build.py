"""Run the ``acg_illustrations`` build: Beam pipeline -> TFRecord shards -> TFDS metadata -> published folder.

Why not TFDS's own Beam writer: it shuffles examples with a group-by, and Beam's local runner holds every
group-by in memory, so a 100,000-image build would need the whole dataset in RAM. Here the posts go through
the bucket passes of :class:`~acg2vec.beam_pipelines.images.BuildImageExamplesInBuckets` (bucket files under
``<incomplete folder>/_buckets/``, sized by :func:`auto_buckets`, deleted once the pipeline succeeded), and the
images of each split go from its last pass straight into Beam's file sink, which writes one shard per bundle
and starts a new one at ``shard_bytes`` (no group-by: only file names are collected). Dead letters are
written per step, as ``dead_letters/images-<step>-*.jsonl.gz``. The shard lengths are then read back by TFDS (``tfds.folder_dataset.compute_split_info``) and
written into the dataset's ``dataset_info.json``. Examples inside a shard keep their bundle order; readers
shuffle with ``shuffle_files=True`` and a shuffle buffer.

An interrupted build never looks complete: everything is written into ``<config>/.incomplete-<version>-<id>/``,
and moved to ``<config>/<version>/`` only after the pipeline succeeded and the metadata was written
(TFDS treats a folder without ``dataset_info.json`` as not built).
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.io import filebasedsink
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.tfrecordio import _TFRecordUtil

from acg2vec.beam_pipelines import raw_io
from acg2vec.beam_pipelines.images import (
    BucketedBuildOutputs,
    BuildImageExamplesInBuckets,
    ImageBuildConfig,
    ImageBuildOutputs,
    summarize_outcomes,
)
from acg2vec.beam_pipelines.options import RunnerConfig, dataflow_dry_run_config, pipeline_options
from acg2vec.beam_pipelines.vocabulary import csv_sha256
from acg2vec.datasets.acg_illustrations.features import NAME, SELECTED_TAGS_FILE
from acg2vec.errors import UserError
from acg2vec.workspace import Workspace, is_remote

log = logging.getLogger(__name__)

BUILD_COUNTS_FILE = "build_counts.json"
DEAD_LETTER_PREFIX = "dead_letters/images"
DEFAULT_SHARD_BYTES = 256 * 1024 * 1024  # TFDS aims at 64 MiB - 1 GiB per shard for streaming
BUCKETS_DIR = "_buckets"  # inside the incomplete folder; deleted before publishing
# One bucket per BUCKET_BYTES of compressed post and pixiv shards (about 10,000 posts): a bucket's records
# then take some tens of MiB in a worker. At most MAX_BUCKETS, since a local worker keeps one file open per
# bucket while it writes them.
BUCKET_BYTES = 4 * 1024 * 1024
MIN_BUCKETS = 4
MAX_BUCKETS = 512
DRY_RUN_BUCKETS = 64  # the dry run reads no input, so it cannot size the buckets


class TFRecordShardSink(filebasedsink.FileBasedSink):
    """Beam's file sink writing TFRecords, with a size cap per shard (Beam's WriteToTFRecord has none)."""

    def __init__(self, file_path_prefix: str, *, max_bytes_per_shard: int) -> None:
        super().__init__(
            file_path_prefix=file_path_prefix,
            coder=beam.coders.BytesCoder(),
            file_name_suffix="",
            num_shards=0,  # one shard per bundle: no group-by of the data
            shard_name_template="-SSSSS-of-NNNNN",  # TFDS's {SHARD_X_OF_Y}
            mime_type="application/octet-stream",
            compression_type="uncompressed",
            max_bytes_per_shard=max_bytes_per_shard,
        )

    def write_encoded_record(self, file_handle, value: bytes) -> None:
        _TFRecordUtil.write_record(file_handle, value)


def _write_text(path: str, text: str) -> None:
    with FileSystems.create(path, mime_type="text/plain", compression_type="uncompressed") as fh:
        fh.write(text.encode("utf-8"))


def _read_text(path: str) -> str:
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        return fh.read().decode("utf-8")


class WriteDeadLettersByStep(beam.PTransform):
    """Per-step dead letters (``{name: PCollection}``) -> ``<prefix>-<name>-SSSSS-of-NNNNN.jsonl.gz``.

    Each step's dead letters are written inside that step; a flatten across steps would make the local runner
    buffer them all (and a filter can drop most of a crawl).
    """

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def expand(self, dead: dict[str, beam.PCollection]) -> beam.pvalue.PDone:
        for name, records in dead.items():
            _ = records | f"Write{name.capitalize()}" >> raw_io.WriteDeadLetters(f"{self.prefix}-{name}")
        return beam.pvalue.PDone(next(iter(dead.values())).pipeline)


def write_side_outputs(outputs: ImageBuildOutputs | BucketedBuildOutputs, out_dir: str) -> None:
    """Write the vocabulary (+ hash), the outcome counts and the dead letters into ``out_dir``."""

    def write_vocabulary(text: str) -> None:
        _write_text(FileSystems.join(out_dir, SELECTED_TAGS_FILE), text)
        _write_text(FileSystems.join(out_dir, SELECTED_TAGS_FILE + ".sha256"), csv_sha256(text) + "\n")

    def write_counts(outcomes: list) -> None:
        _write_text(FileSystems.join(out_dir, BUILD_COUNTS_FILE), json.dumps(summarize_outcomes(outcomes), indent=1))

    _ = outputs.vocabulary_csv | "WriteVocabulary" >> beam.Map(write_vocabulary)
    prefix = FileSystems.join(out_dir, DEAD_LETTER_PREFIX)
    if isinstance(outputs, BucketedBuildOutputs):
        counted, write_dead = outputs.outcome_counts, WriteDeadLettersByStep(prefix)
    else:
        counted = outputs.outcomes | "CountOutcomes" >> beam.combiners.Count.PerElement()
        write_dead = raw_io.WriteDeadLetters(prefix)
    _ = (
        counted
        | "SumOutcomes" >> beam.CombinePerKey(sum)
        | "AllOutcomeCounts" >> beam.combiners.ToList()
        | "WriteCounts" >> beam.Map(write_counts)
    )
    _ = outputs.dead | "WriteDeadLetters" >> write_dead


def write_dataset_card(out_dir: str, splits: dict[str, int] | None = None, metadata: dict | None = None) -> None:
    """The dataset card: the builder's README.md, then this build's figures (splits, drops, vocabulary, rules)."""
    from importlib import resources

    card = resources.files("acg2vec.datasets.acg_illustrations").joinpath("README.md").read_text(encoding="utf-8")
    if splits is not None and metadata is not None:
        card = card.rstrip("\n") + "\n\n" + build_card_section(splits, metadata)
    _write_text(FileSystems.join(out_dir, "README.md"), card)


def build_card_section(splits: dict[str, int], metadata: dict) -> str:
    """Markdown of one build: examples per split, posts dropped per reason and split, the vocabulary, the rules."""
    posts = metadata.get("counts", {}).get("posts", {})
    lines = [
        "## This build",
        "",
        f"Posts read {posts.get('read', 0)} = written {posts.get('written', 0)} + dropped {posts.get('dropped', 0)}.",
        "",
        "| split | examples |",
        "|---|---|",
        *(f"| {name} | {n} |" for name, n in sorted(splits.items())),
        "",
    ]
    by_split = posts.get("by_split", {})
    reasons = sorted({r for counts in by_split.values() for r in counts if r != "written"})
    if reasons:
        names = sorted(by_split)
        lines += [
            "Posts dropped, by reason and split (dead letters in `dead_letters/`):",
            "",
            "| reason | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
            *(f"| {r} | " + " | ".join(str(by_split[n].get(r, 0)) for n in names) + " |" for r in reasons),
            "",
        ]
    rules = metadata.get("build_config", {})
    lines += [
        f"Vocabulary: {metadata.get('selected_tags_count', 0)} tags in `{SELECTED_TAGS_FILE}` "
        f"(sha256 `{metadata.get('selected_tags_sha256', '')}`), chosen by {json.dumps(rules.get('vocabulary', {}))}.",
        "",
        f"Post filters: {json.dumps(rules.get('filters', {}))}; splits: {json.dumps(rules.get('splits', {}))}.",
        "",
    ]
    return "\n".join(lines)


def dataset_metadata(out_dir: str, counts: dict[str, Any], config: ImageBuildConfig) -> dict[str, Any]:
    """What goes into the dataset's ``metadata.json``: counts, vocabulary hash and the build config."""
    vocabulary = _read_text(FileSystems.join(out_dir, SELECTED_TAGS_FILE))
    return {
        "counts": counts,
        "selected_tags_file": SELECTED_TAGS_FILE,
        "selected_tags_sha256": csv_sha256(vocabulary),
        "selected_tags_count": max(0, len(vocabulary.splitlines()) - 1),
        "build_config": _config_dict(config),
    }


def _config_dict(config: ImageBuildConfig) -> dict[str, Any]:
    data = asdict(config)
    data["splits"]["ranges"] = {k: list(v) for k, v in config.splits.ranges.items()}
    return json.loads(json.dumps(data))


@dataclass(slots=True)
class BuildResult:
    """What a finished build reports."""

    out_dir: str
    counts: dict[str, Any]
    splits: dict[str, int]
    seconds: float
    metrics: dict[str, int] = field(default_factory=dict)
    job_file: str | None = None
    buckets: int = 0


def output_dir(workspace: Workspace, size: int) -> str:
    """``<workdir>/datasets/acg_illustrations/<size>/<version>``."""
    from acg2vec.datasets.acg_illustrations.acg_illustrations_dataset_builder import Builder

    return FileSystems.join(workspace.datasets(), NAME, str(size), str(Builder.VERSION))


def auto_buckets(raw_root: str) -> int:
    """The bucket count for this input: grows with the compressed size of the post and pixiv shards."""
    total = 0
    for pattern in (
        raw_io.shard_pattern(FileSystems.join(raw_root, "safebooru"), "post"),
        raw_io.shard_pattern(FileSystems.join(raw_root, "pixiv"), "illust"),
    ):
        if raw_io.has_shards(pattern):
            total += sum(m.size_in_bytes for m in FileSystems.match([pattern])[0].metadata_list)
    return max(MIN_BUCKETS, min(MAX_BUCKETS, math.ceil(total / BUCKET_BYTES)))


def _build_pipeline(
    pipeline: beam.Pipeline,
    raw_root: str,
    out_dir: str,
    config: ImageBuildConfig,
    shard_bytes: int,
    *,
    num_buckets: int,
    local: bool,
):
    from acg2vec.datasets.acg_illustrations.features import features_for_size

    # Locally every bucket keeps its file open (a spill would go to an in-memory group-by); a distributed
    # runner keeps Beam's default and shuffles the rest.
    writers = {"max_writers": num_buckets + 1} if local else {}
    outputs = pipeline | "BuildImageExamples" >> BuildImageExamplesInBuckets(
        raw_root, config, FileSystems.join(out_dir, BUCKETS_DIR), num_buckets=num_buckets, **writers
    )
    features = features_for_size(config.size)
    for name, images in outputs.images.items():
        label = name.capitalize()
        _ = (
            images
            | f"Serialize{label}" >> beam.Map(lambda ri: features.serialize_example(_example(ri)))
            | f"WriteShards{label}"
            >> beam.io.Write(
                TFRecordShardSink(
                    FileSystems.join(out_dir, f"{NAME}-{name}.tfrecord"), max_bytes_per_shard=shard_bytes
                )
            )
        )
    write_side_outputs(outputs, out_dir)
    return outputs


def _example(record_and_jpeg):
    from acg2vec.beam_pipelines.images import record_to_example

    return record_to_example(*record_and_jpeg)


def run_build(
    workspace: Workspace,
    config: ImageBuildConfig,
    *,
    runner: RunnerConfig | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    dry_run_dataflow: str | None = None,
    num_buckets: int = 0,
) -> BuildResult:
    """Build ``acg_illustrations/<size>`` from ``workspace``'s raw/ folder and publish it under datasets/.

    ``dry_run_dataflow``: a path; describe the job for Dataflow (with ``runner.args``) into that JSON file
    instead of running anything. ``num_buckets``: 0 sizes the buckets from the input (:func:`auto_buckets`);
    the examples are the same for any count.
    """
    raw_root = workspace.raw()
    posts = raw_io.shard_pattern(FileSystems.join(raw_root, "safebooru"), "post")
    if not dry_run_dataflow and not raw_io.has_shards(posts):
        raise UserError(f"No posts to build from: nothing matches {posts}. Run `acg2vec crawl safebooru` first.")
    final_dir = output_dir(workspace, config.size)
    config_dir = final_dir.rsplit("/", 1)[0]
    tmp_dir = FileSystems.join(config_dir, f".incomplete-{final_dir.rsplit('/', 1)[1]}-{uuid.uuid4().hex[:8]}")
    runner = runner or RunnerConfig()
    start = time.monotonic()

    if dry_run_dataflow:
        return _describe_dataflow_job(
            raw_root, final_dir, config, runner, shard_bytes, dry_run_dataflow, num_buckets or DRY_RUN_BUCKETS
        )

    num_buckets = num_buckets or auto_buckets(raw_root)
    FileSystems.mkdirs(tmp_dir)
    options = pipeline_options(runner)
    pipeline = beam.Pipeline(options=options)
    _build_pipeline(pipeline, raw_root, tmp_dir, config, shard_bytes, num_buckets=num_buckets, local=runner.is_local)
    log.info(
        "Building %s/%s from %s (runner: %s, %d buckets)", NAME, config.size, raw_root, runner.runner, num_buckets
    )
    result = pipeline.run()
    state = result.wait_until_finish()
    if str(state) not in ("DONE", "PipelineState.DONE"):
        raise RuntimeError(f"the Beam pipeline ended in state {state}; {tmp_dir} is left incomplete")
    metrics = _counters(result)
    FileSystems.delete([FileSystems.join(tmp_dir, BUCKETS_DIR)])

    counts = json.loads(_read_text(FileSystems.join(tmp_dir, BUILD_COUNTS_FILE)))
    _check_counts_add_up(counts, metrics)
    splits = _write_tfds_metadata(tmp_dir, config, counts)
    _publish(tmp_dir, final_dir)
    return BuildResult(
        out_dir=final_dir,
        counts=counts,
        splits=splits,
        seconds=time.monotonic() - start,
        metrics=metrics,
        buckets=num_buckets,
    )


def _counters(result) -> dict[str, int]:
    from apache_beam.metrics.metric import MetricsFilter

    out: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(raw_io.NAMESPACE))["counters"]:
        out[counter.key.metric.name] = out.get(counter.key.metric.name, 0) + int(counter.committed or 0)
    return out


def _check_counts_add_up(counts: dict[str, Any], metrics: dict[str, int]) -> None:
    """Lines read (a counter of its own) must equal examples written + posts dropped."""
    posts = counts.get("posts", {"read": 0, "written": 0, "dropped": 0})
    read = metrics.get("Posts-read")
    posts["lines_read"] = read
    if read is not None and read != posts["written"] + posts["dropped"]:
        raise RuntimeError(
            f"counts do not add up: read {read} != written {posts['written']} + dropped {posts['dropped']}"
        )


def _write_tfds_metadata(out_dir: str, config: ImageBuildConfig, counts: dict[str, Any]) -> dict[str, int]:
    """Compute the split infos from the shards and write dataset_info.json, features.json, metadata.json."""
    import tensorflow_datasets as tfds

    from acg2vec.datasets.acg_illustrations.acg_illustrations_dataset_builder import Builder

    builder = Builder(config=str(config.size) if str(config.size) in Builder.builder_configs else None)
    if builder.builder_config.size != config.size:
        raise UserError(f"No builder config for size {config.size}; choose one of {sorted(Builder.builder_configs)}.")
    template = tfds.core.ShardedFileTemplate(
        data_dir=out_dir,
        template=tfds.core.naming.DEFAULT_FILENAME_TEMPLATE,
        dataset_name=NAME,
        filetype_suffix="tfrecord",
    )
    split_infos = tfds.folder_dataset.compute_split_info(filename_template=template)
    info = builder.info
    info.set_file_format("tfrecord", override=True)
    info.set_splits(tfds.core.SplitDict(split_infos))
    metadata = dataset_metadata(out_dir, counts, config)
    info.metadata.update(metadata)
    info.write_to_directory(out_dir)
    splits = {s.name: s.num_examples for s in split_infos}
    write_dataset_card(out_dir, splits, metadata)
    return splits


def _publish(tmp_dir: str, final_dir: str) -> None:
    """Move the finished build to its version folder, replacing an older build of the same config."""
    if not is_remote(final_dir):
        import os
        import shutil

        if os.path.exists(final_dir):
            old = f"{tmp_dir}-replaced"
            os.rename(final_dir, old)
            os.rename(tmp_dir, final_dir)
            shutil.rmtree(old)
        else:
            os.rename(tmp_dir, final_dir)
        return
    # Object stores have no atomic folder rename: take the old dataset_info.json away first (the old build
    # stops looking complete), copy the files, and write dataset_info.json last.
    info = FileSystems.join(final_dir, "dataset_info.json")
    if FileSystems.exists(final_dir):
        FileSystems.delete([final_dir])
    files = [m.path for m in FileSystems.match([FileSystems.join(tmp_dir, "**")])[0].metadata_list]
    files.sort(key=lambda p: p.endswith("dataset_info.json"))
    for path in files:
        FileSystems.rename([path], [final_dir + path[len(tmp_dir) :]])
    FileSystems.delete([tmp_dir])
    log.debug("published %s", info)


def _describe_dataflow_job(
    raw_root: str,
    final_dir: str,
    config: ImageBuildConfig,
    runner: RunnerConfig,
    shard_bytes: int,
    job_file: str,
    num_buckets: int,
) -> BuildResult:
    """Build the Dataflow job for this build and write its description to ``job_file``; submit nothing."""
    start = time.monotonic()
    dry = dataflow_dry_run_config(runner)
    pipeline = beam.Pipeline(options=pipeline_options(dry))
    out_dir = final_dir.rsplit("/", 1)[0] + "/.incomplete-dataflow"
    _build_pipeline(pipeline, raw_root, out_dir, config, shard_bytes, num_buckets=num_buckets, local=False)
    result = pipeline.run()
    job = result.job
    proto = job.proto_pipeline
    environments = {
        env_id: {
            "urn": env.urn,
            "dependencies": [
                d.role_urn + " " + d.role_payload.decode("utf-8", "replace")[-120:] for d in env.dependencies
            ],
        }
        for env_id, env in proto.components.environments.items()
    }
    description = {
        "job": json.loads(job.json()),
        "pipeline_options": job.options.get_all_options(drop_default=True, retain_unknown_options=True),
        "steps": sorted(t.unique_name for t in proto.components.transforms.values() if "/" not in t.unique_name),
        "environments": environments,
        "output": final_dir,
    }
    with open(job_file, "w", encoding="utf-8") as fh:
        json.dump(description, fh, indent=1, default=str)
    return BuildResult(
        out_dir=final_dir,
        counts={},
        splits={},
        seconds=time.monotonic() - start,
        job_file=job_file,
        buckets=num_buckets,
    )
