"""Raw crawl items -> the text-pair corpus ``acg_text_pairs`` (TFDS + zstd Parquet), with flat memory.

The local runner keeps every group-by in memory, so the build never groups the corpus as a whole. Three
Beam pipelines run one after another; each hands the next hash-partitioned bucket files
(:mod:`acg2vec.beam_pipelines.buckets`):

1. **extract** (map only): read ``raw/<source>/<kind>-*.jsonl.gz`` line by line (a line that is not UTF-8 is a
   dead letter), validate items, extract pairs, clean and tag them; pairs go to *pair buckets* by a hash of the
   anchor's de-duplication key, join parts (titles and character names, wiki intros) to *join buckets*.
2. **join**: one bucket at a time per worker, resolve the joins (title <-> character, summary <-> summary),
   clean the new pairs and add them to the pair buckets.
3. **finalize**: one pair bucket at a time per worker: exact de-duplication (every copy of a pair shares
   the bucket), MinHash near-duplicate removal of summaries with the same anchor, split by entity, and one
   TFRecord shard + one Parquet file per split. Shard lengths are recorded with
   ``tfds.folder_dataset.write_metadata``; there is no global shuffle (rows in a shard are in hash order).

Peak memory is one bucket per worker; the bucket count grows with the input so buckets stay small. Every drop
is a named Beam counter (``<step>-<reason>``) and a dead-letter record under ``<version>/dead_letters/``;
``build_metadata.json`` shows the counts adding up: lines read = items + bad lines; candidate pairs = written +
dropped. Everything goes through Beam's ``FileSystems``, so the workdir may be remote.

The build holds the dataset's lock and writes into ``.incomplete-*`` folders beside the TFDS folder and the
Parquet folder; each is swapped in only when complete (:mod:`acg2vec.beam_pipelines.publish`), so a killed
build leaves the previous dataset as it was.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import apache_beam as beam

from acg2vec.beam_pipelines import files, publish
from acg2vec.beam_pipelines.buckets import WriteBuckets, bucket_writers
from acg2vec.beam_pipelines.dead_letters import DEAD, WriteDeadLetters, metric_counts
from acg2vec.beam_pipelines.options import (
    RunnerConfig,
    dataflow_dry_run_config,
    describe_dataflow_job,
    pipeline_options,
    worker_stderr_to_log,
)
from acg2vec.beam_pipelines.raw_io import ReadRawLines
from acg2vec.datasets.acg_text_pairs import schema
from acg2vec.datasets.acg_text_pairs.acg_text_pairs_dataset_builder import (
    DESCRIPTION,
    HOMEPAGE,
    SUPERVISED_KEYS,
    Builder,
    make_features,
)
from acg2vec.datasets.acg_text_pairs.card import dataset_card, plot_counts
from acg2vec.datasets.acg_text_pairs.records import LINES, TextPairsConfig, raw_files, raw_patterns
from acg2vec.datasets.acg_text_pairs.transforms import JOIN, ExtractPairs, FinalizeBucket, ResolveJoins
from acg2vec.errors import UserError

log = logging.getLogger(__name__)

SHARD_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"


def shard_path(out_dir: str, split: str, index: int, count: int) -> str:
    """A TFRecord shard's name in TFDS's layout (:data:`SHARD_TEMPLATE`)."""
    return f"{out_dir}/{schema.NAME}-{split}.tfrecord-{index:05d}-of-{count:05d}"


@dataclass(slots=True)
class BuildReport:
    """Where the build wrote and what it counted."""

    out_dir: str
    parquet_root: str
    num_buckets: int
    split_rows: dict[str, int]
    counters: dict[str, int]
    counts_by_type_source: dict[str, dict[str, int]]
    metadata_path: str
    seconds: float = 0.0
    job_file: str | None = None


def auto_buckets(total_bytes: int, config: TextPairsConfig) -> int:
    if config.num_buckets > 0:
        return config.num_buckets
    return max(4, min(4096, math.ceil(total_bytes / config.bucket_bytes)))


def output_dir(datasets_root: str) -> str:
    """``<datasets>/acg_text_pairs/<version>``."""
    return f"{datasets_root.rstrip('/')}/{schema.NAME}/{Builder.VERSION}"


def _extract(p, patterns, config, num_buckets, dirs, out_dir, writers) -> None:
    lines = p | "Lines" >> ReadRawLines(patterns, step=LINES)
    outputs = lines.lines | "Extract" >> beam.ParDo(ExtractPairs(config, num_buckets)).with_outputs(
        JOIN, DEAD, main="pairs"
    )
    _ = outputs.pairs | "WritePairBuckets" >> WriteBuckets(dirs["pairs-extract"], **writers)
    _ = outputs[JOIN] | "WriteJoinBuckets" >> WriteBuckets(dirs["joins"], **writers)
    _ = lines.dead | "WriteDeadLines" >> WriteDeadLetters(out_dir, "Lines")
    _ = outputs[DEAD] | "WriteDeadExtract" >> WriteDeadLetters(out_dir, "Extract")


def _join(p, config, num_buckets, dirs, out_dir, writers) -> None:
    outputs = (
        p
        | "Buckets" >> beam.Create(range(num_buckets))
        | "Spread" >> beam.Reshuffle()
        | "Join" >> beam.ParDo(ResolveJoins(config, num_buckets, dirs["joins"])).with_outputs(DEAD, main="pairs")
    )
    _ = outputs.pairs | "WritePairBuckets" >> WriteBuckets(dirs["pairs-join"], **writers)
    _ = outputs[DEAD] | "WriteDeadJoin" >> WriteDeadLetters(out_dir, "Join")


def _finalize(p, config, num_buckets, dirs, out_dir, parquet_dir) -> None:
    pair_dirs = [dirs["pairs-extract"], dirs["pairs-join"]]
    _ = (
        p
        | "Buckets" >> beam.Create(range(num_buckets))
        | "Spread" >> beam.Reshuffle()
        | "Finalize" >> beam.ParDo(FinalizeBucket(config, pair_dirs, out_dir, parquet_dir, num_buckets))
        | "WriteStats" >> beam.io.WriteToText(dirs["stats"], file_name_suffix=".jsonl", num_shards=1)
    )


def build_text_pairs(
    raw_root: str,
    datasets_root: str,
    *,
    config: TextPairsConfig | None = None,
    runner: RunnerConfig | None = None,
    keep_temp: bool = False,
    dry_run_dataflow: str | None = None,
) -> BuildReport:
    """Build ``acg_text_pairs`` from ``raw_root`` into ``datasets_root`` (TFDS folder + Parquet); see the module doc.

    ``dry_run_dataflow``: a path; describe the three Dataflow jobs into that JSON file instead of building.
    """
    config = config or TextPairsConfig()
    runner = runner or RunnerConfig()
    started = time.time()
    final_dir = output_dir(datasets_root)
    parquet_final = schema.parquet_dataset_dir(datasets_root)
    patterns = raw_patterns(raw_root, config)
    if dry_run_dataflow:
        return _describe_dataflow_jobs(patterns, final_dir, parquet_final, config, runner, dry_run_dataflow)
    found = raw_files(raw_root, config)
    if not found:
        raise UserError(
            f"No raw items under {raw_root} (expected <source>/<kind>-*.jsonl.gz for sources "
            f"{', '.join(config.sources)}); crawl first with `acg2vec crawl`."
        )
    options = pipeline_options(runner)  # a wrong runner argument fails before anything is written
    num_buckets = auto_buckets(sum(size for _, size in found), config)
    writers = bucket_writers(num_buckets, local=runner.is_local)
    with publish.DatasetLock(final_dir, schema.BUILD_COMMAND):
        publish.remove_leftovers(final_dir)
        publish.remove_leftovers(parquet_final)
        out_dir, parquet_dir = publish.incomplete_dir(final_dir), publish.incomplete_dir(parquet_final)
        work_dir = f"{datasets_root.rstrip('/')}/{schema.NAME}/_work-{Builder.VERSION}"
        files.delete([work_dir])
        for folder in (out_dir, parquet_dir):
            files.mkdirs(folder)
        dirs = {name: f"{work_dir}/{name}" for name in ("pairs-extract", "pairs-join", "joins", "stats")}
        log.info("acg_text_pairs: %d raw files, %d buckets, runner %s", len(found), num_buckets, runner.runner)
        counters: Counter[str] = Counter()
        passes = (
            ("extract pairs", lambda p: _extract(p, patterns, config, num_buckets, dirs, out_dir, writers)),
            ("resolve joins", lambda p: _join(p, config, num_buckets, dirs, out_dir, writers)),
            (
                "de-duplicate, split, write shards",
                lambda p: _finalize(p, config, num_buckets, dirs, out_dir, parquet_dir),
            ),
        )
        for number, (what, build) in enumerate(passes, 1):
            log.info("acg_text_pairs %d/3: %s", number, what)
            timer = time.time()
            with worker_stderr_to_log(), beam.Pipeline(options=options) as p:
                build(p)
            counters.update(metric_counts(p.result))
            log.info("acg_text_pairs %d/3 done in %.0f s", number, time.time() - timer)
        stats = [
            json.loads(line)
            for path, _ in files.match(dirs["stats"] + "*")
            for line in files.read_text(path).splitlines()
            if line.strip()
        ]
        report = _write_tfds_metadata(out_dir, num_buckets, stats, counters)
        report.parquet_root = datasets_root
        if not keep_temp:
            files.delete([work_dir])
        report.seconds = time.time() - started
        meta = _build_metadata(report, len(found), config)
        _write_card(out_dir, meta, report)
        # The metadata last: a folder without it is not complete (the Parquet folder's marker).
        for folder in (out_dir, parquet_dir):
            files.write_text(f"{folder}/{schema.BUILD_METADATA}", json.dumps(meta, ensure_ascii=False, indent=2))
        publish.publish(out_dir, final_dir, marker=schema.TFDS_MARKER)
        publish.publish(parquet_dir, parquet_final, marker=schema.BUILD_METADATA)
    report.out_dir = final_dir
    report.metadata_path = f"{final_dir}/{schema.BUILD_METADATA}"
    return report


def _write_tfds_metadata(out_dir: str, num_buckets: int, stats: list[dict], counters: Counter[str]) -> BuildReport:
    """Name the bucket files as TFDS shards and record their lengths (dataset_info.json, features.json)."""
    import tensorflow_datasets as tfds

    def template_in(folder: str):
        return tfds.core.ShardedFileTemplate(
            data_dir=folder, template=SHARD_TEMPLATE, dataset_name=schema.NAME, filetype_suffix="tfrecord"
        )

    # Shard names and lengths first, through Beam's file systems; TFDS (which may not know a remote scheme) only
    # writes the metadata, into a local staging folder when the output is remote.
    lengths_by_split: dict[str, tuple[list[int], int]] = {}
    for split in schema.SPLITS:
        shards = sorted((s["bucket"], s["splits"][split]) for s in stats if split in s["splits"])
        for index, (_, shard) in enumerate(shards):
            files.rename(shard["path"], shard_path(out_dir, split, index, len(shards)))
        if not shards:
            # TFDS wants at least one shard per declared split; an empty file is a valid empty TFRecord.
            files.write_bytes(shard_path(out_dir, split, 0, 1), b"")
        lengths = [shard["rows"] for _, shard in shards] or [0]
        lengths_by_split[split] = (lengths, sum(shard["bytes"] for _, shard in shards))
    split_rows = {split: sum(lengths) for split, (lengths, _) in lengths_by_split.items()}

    def write(folder: str) -> None:
        if folder != out_dir:  # TFDS lists the shards by name: empty stand-ins in the staging folder
            for split, (lengths, _) in lengths_by_split.items():
                for index in range(len(lengths)):
                    with open(shard_path(folder, split, index, len(lengths)), "wb"):
                        pass
        template = template_in(folder)
        infos = [
            tfds.core.SplitInfo(name=split, shard_lengths=lengths, num_bytes=num_bytes, filename_template=template)
            for split, (lengths, num_bytes) in lengths_by_split.items()
        ]
        tfds.folder_dataset.write_metadata(
            data_dir=folder,
            features=make_features(),
            split_infos=infos,
            filename_template=template,
            version=str(Builder.VERSION),
            description=DESCRIPTION,
            supervised_keys=SUPERVISED_KEYS,
            homepage=HOMEPAGE,
            check_data=folder == out_dir,  # read back when TensorFlow reads the folder itself
        )

    files.write_locally_then_copy(out_dir, write, keep=lambda name: ".tfrecord-" not in name)
    by_type_source: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in stats:
        for _split, pair_type, source, n in s["counts"]:
            by_type_source[pair_type][source] += n
    return BuildReport(
        out_dir=out_dir,
        parquet_root="",
        num_buckets=num_buckets,
        split_rows=split_rows,
        counters=dict(sorted(counters.items())),
        counts_by_type_source={t: dict(sorted(v.items())) for t, v in sorted(by_type_source.items())},
        metadata_path=f"{out_dir}/{schema.BUILD_METADATA}",
    )


def accounting(counters: dict[str, int]) -> dict[str, Any]:
    """The two balances of a build: lines read = items + bad lines; candidates = written + dropped."""
    line_drops = sum(
        v for k, v in counters.items() if k.startswith("Lines-") and k not in ("Lines-read", "Lines-parsed")
    )
    pair_drops = sum(
        v
        for k, v in counters.items()
        if k.startswith(("Pairs-", "Dedup-")) and k not in ("Pairs-candidates", "Pairs-cleaned")
    )
    written = sum(v for k, v in counters.items() if k.startswith("Written-"))
    lines = counters.get("Lines-read", 0)
    parsed = counters.get("Lines-parsed", 0)
    candidates = counters.get("Pairs-candidates", 0)
    return {
        "lines_read": lines,
        "items_parsed": parsed,
        "lines_dropped": line_drops,
        "lines_add_up": lines == parsed + line_drops,
        "pair_candidates": candidates,
        "pairs_written": written,
        "pairs_dropped": pair_drops,
        "pairs_add_up": candidates == written + pair_drops,
    }


def _build_metadata(report: BuildReport, raw_file_count: int, config: TextPairsConfig) -> dict[str, Any]:
    return {
        "dataset": schema.NAME,
        "version": str(Builder.VERSION),
        "raw_files": raw_file_count,
        "buckets": report.num_buckets,
        "seconds": round(report.seconds, 1),
        "split_rows": report.split_rows,
        "accounting": accounting(report.counters),
        "counters": report.counters,
        "counts_by_pair_type_and_source": report.counts_by_type_source,
        "config": asdict(config),
    }


def _write_card(out_dir: str, meta: dict[str, Any], report: BuildReport) -> None:
    files.write_text(f"{out_dir}/README.md", dataset_card(meta))
    files.write_bytes(f"{out_dir}/pair_types.png", plot_counts(report.counts_by_type_source))


def _describe_dataflow_jobs(
    patterns: list[str],
    final_dir: str,
    parquet_final: str,
    config: TextPairsConfig,
    runner: RunnerConfig,
    job_file: str,
) -> BuildReport:
    """Describe the three passes as Dataflow jobs into ``job_file``; nothing is read, written or submitted."""
    started = time.time()
    num_buckets = config.num_buckets or 64  # the dry run reads no input, so it cannot size the buckets
    dry = dataflow_dry_run_config(runner)
    out_dir, parquet_dir = f"{final_dir}.incomplete-dataflow", f"{parquet_final}.incomplete-dataflow"
    dirs = {name: f"{out_dir}/_work/{name}" for name in ("pairs-extract", "pairs-join", "joins", "stats")}
    passes = {
        "extract": lambda p: _extract(p, patterns, config, num_buckets, dirs, out_dir, {}),
        "join": lambda p: _join(p, config, num_buckets, dirs, out_dir, {}),
        "finalize": lambda p: _finalize(p, config, num_buckets, dirs, out_dir, parquet_dir),
    }
    jobs = {}
    for name, build in passes.items():
        pipeline = beam.Pipeline(options=pipeline_options(dry))
        build(pipeline)
        jobs[name] = describe_dataflow_job(pipeline, output=final_dir)
    files.write_text(job_file, json.dumps({"passes": jobs, "output": final_dir}, indent=1, default=str))
    return BuildReport(
        out_dir=final_dir,
        parquet_root=parquet_final,
        num_buckets=num_buckets,
        split_rows={},
        counters={},
        counts_by_type_source={},
        metadata_path="",
        seconds=time.time() - started,
        job_file=job_file,
    )
