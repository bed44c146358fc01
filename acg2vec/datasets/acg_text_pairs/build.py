"""Raw crawl items -> the text-pair corpus ``acg_text_pairs`` (TFDS + zstd Parquet), with flat memory.

The local runner keeps every group-by in memory, so the build never groups the corpus as a whole. First the
works, characters and people of every site are linked into entities (:mod:`acg2vec.datasets.acg_entities`,
published as its own table ``datasets/acg_entities/``); every pair's ``entity_id`` is its entity's id, so the
split and the trainer's in-batch negatives follow real identity. Then three Beam pipelines run one after
another; each hands the next hash-partitioned bucket files (:mod:`acg2vec.beam_pipelines.buckets`):

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
import time
from collections import Counter

import apache_beam as beam

from acg2vec.beam_pipelines import files, publish, raw_shards
from acg2vec.beam_pipelines.buckets import WriteBuckets, auto_bucket_count, bucket_writers
from acg2vec.beam_pipelines.dead_letters import DEAD, WriteDeadLetters, metric_counts
from acg2vec.beam_pipelines.options import (
    BuildOptions,
    dataflow_dry_run_config,
    describe_dataflow_job,
    pipeline_options,
    worker_stderr_to_log,
)
from acg2vec.beam_pipelines.publish import BuildResult
from acg2vec.beam_pipelines.raw_io import ReadRawLines
from acg2vec.beam_pipelines.raw_shards import check_raw_shards, raw_shard_balance
from acg2vec.datasets.acg_entities.build import build as build_entities
from acg2vec.datasets.acg_entities.build import raw_patterns as entity_raw_patterns
from acg2vec.datasets.acg_text_pairs import schema
from acg2vec.datasets.acg_text_pairs.acg_text_pairs_dataset_builder import Builder
from acg2vec.datasets.acg_text_pairs.card import accounting, build_metadata, write_card, write_tfds_metadata
from acg2vec.datasets.acg_text_pairs.records import LINES, TextPairsConfig, raw_files, raw_patterns
from acg2vec.datasets.acg_text_pairs.transforms import JOIN, ExtractPairs, FinalizeBucket, ResolveJoins
from acg2vec.datasets.versions import TFDS_MARKER
from acg2vec.errors import UserError
from acg2vec.integrity import disk_full_is_one_sentence
from acg2vec.workspace import Workspace

log = logging.getLogger(__name__)

# One bucket per BUCKET_BYTES of compressed raw input, between MIN_BUCKETS and MAX_BUCKETS (a local worker
# keeps one file open per bucket while it writes them).
BUCKET_BYTES = 4 << 20
MIN_BUCKETS = 4
MAX_BUCKETS = 4096
DRY_RUN_BUCKETS = 64  # the dry run reads no input, so it cannot size the buckets
WORK_FOLDERS = ("pairs-extract", "pairs-join", "joins", "stats")


def output_dir(datasets_root: str) -> str:
    """``<datasets>/acg_text_pairs/<version>``."""
    return f"{datasets_root.rstrip('/')}/{schema.NAME}/{Builder.VERSION}"


def _extract(p, patterns, config, num_buckets, dirs, out_dir, writers, entities_dir=None) -> None:
    lines = p | "Lines" >> ReadRawLines(patterns, step=LINES)
    outputs = lines.lines | "Extract" >> beam.ParDo(ExtractPairs(config, num_buckets, entities_dir)).with_outputs(
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


def build(
    workspace: Workspace, config: TextPairsConfig | None = None, *, options: BuildOptions | None = None
) -> BuildResult:
    """Build ``acg_text_pairs`` from ``workspace``'s raw/ folder into its datasets/ folder (TFDS folder + Parquet);
    see the module doc.

    ``options.buckets`` 0 sizes the buckets from the input; the rows are the same for any count.
    ``options.dry_run_dataflow``: describe the three Dataflow jobs into that JSON file instead of building.
    """
    config = config or TextPairsConfig()
    options = options or BuildOptions()
    raw_root, datasets_root = workspace.raw(), workspace.datasets()
    started = time.time()
    final_dir = output_dir(datasets_root)
    parquet_final = schema.parquet_dataset_dir(datasets_root)
    patterns = raw_patterns(raw_root, config)
    if options.dry_run_dataflow:
        return _describe_dataflow_jobs(patterns, final_dir, parquet_final, config, options)
    found = raw_files(raw_root, config)
    if not found:
        raise UserError(
            f"No raw items under {raw_root} (expected <source>/<kind>-*.jsonl.gz for sources "
            f"{', '.join(config.sources)}); crawl first with `acg2vec crawl`."
        )
    beam_options = pipeline_options(options.runner)  # a wrong runner argument fails before anything is written
    # 0. Every shard this build and its entity table read, checked whole: a damaged one is refused (or skipped).
    entity_patterns = entity_raw_patterns(raw_root)
    entity_found = [f for pattern in entity_patterns for f in files.match(pattern)]
    checked = check_raw_shards(
        sorted(set(found) | set(entity_found)),
        command=schema.BUILD_COMMAND,
        skip_damaged=options.skip_damaged,
        patterns=[*patterns, *entity_patterns],
    )
    shards = checked.restrict(patterns)
    if not shards.good:
        raise UserError(f"Every raw shard under {raw_root} is damaged; re-fetch them with `acg2vec crawl`.")
    # Entities first: every pair's entity_id is its linked entity's (the table is published on its own too).
    entities = build_entities(workspace, checked=checked.restrict(entity_patterns))
    with disk_full_is_one_sentence(final_dir):
        return _build(workspace, config, options, beam_options, shards, entities, started=started)


def _build(workspace, config, options, beam_options, shards, entities, *, started: float) -> BuildResult:
    """:func:`build` once its input shards are checked and its entities linked: the three passes, the metadata,
    publishing."""
    datasets_root = workspace.datasets()
    final_dir = output_dir(datasets_root)
    parquet_final = schema.parquet_dataset_dir(datasets_root)
    found = shards.good
    patterns = shards.paths
    entities_dir, linked = entities
    total_bytes = sum(size for _, size in found)
    num_buckets = options.buckets or auto_bucket_count(total_bytes, BUCKET_BYTES, MIN_BUCKETS, MAX_BUCKETS)
    writers = bucket_writers(num_buckets, local=options.runner.is_local)
    with publish.DatasetLock(final_dir, schema.BUILD_COMMAND):
        # 1. Fresh incomplete folders beside the published ones, and an empty work folder for the buckets.
        publish.remove_leftovers(final_dir)
        publish.remove_leftovers(parquet_final)
        out_dir, parquet_dir = publish.incomplete_dir(final_dir), publish.incomplete_dir(parquet_final)
        work_dir = f"{datasets_root.rstrip('/')}/{schema.NAME}/_work-{Builder.VERSION}"
        files.delete([work_dir])
        for folder in (out_dir, parquet_dir):
            files.mkdirs(folder)
        dirs = {name: f"{work_dir}/{name}" for name in WORK_FOLDERS}
        log.info("acg_text_pairs: %d raw files, %d buckets, runner %s", len(found), num_buckets, options.runner.runner)
        # 2. Three pipelines, one after another: extract, resolve joins, finalise (each reads the last's buckets).
        counters: Counter[str] = Counter()
        passes = (
            (
                "extract pairs",
                lambda p: _extract(p, patterns, config, num_buckets, dirs, out_dir, writers, entities_dir),
            ),
            ("resolve joins", lambda p: _join(p, config, num_buckets, dirs, out_dir, writers)),
            (
                "de-duplicate, split, write shards",
                lambda p: _finalize(p, config, num_buckets, dirs, out_dir, parquet_dir),
            ),
        )
        for number, (what, add_pass) in enumerate(passes, 1):
            log.info("acg_text_pairs %d/3: %s", number, what)
            timer = time.time()
            with worker_stderr_to_log(), beam.Pipeline(options=beam_options) as p:
                add_pass(p)
            counters.update(metric_counts(p.result))
            log.info("acg_text_pairs %d/3 done in %.0f s", number, time.time() - timer)
        # 3. The shards named and counted (TFDS metadata), the bucket files gone.
        stats = [
            json.loads(line)
            for path, _ in files.match(dirs["stats"] + "*")
            for line in files.read_text(path).splitlines()
            if line.strip()
        ]
        split_rows, by_type_source = write_tfds_metadata(out_dir, stats)
        if not options.keep_temp:
            files.delete([work_dir])
        # 4. The card, then the metadata last (a Parquet folder without it is not complete); publish both.
        counters = Counter(dict(sorted(counters.items())))
        meta = build_metadata(
            split_rows=split_rows,
            counters=dict(counters),
            counts_by_type_source=by_type_source,
            raw_files=len(found),
            buckets=num_buckets,
            seconds=time.time() - started,
            config=config,
        )
        meta["entities"] = {"table": entities_dir, "linked_records": len(linked.record_entity)}
        meta["raw_shards"] = shards.record()
        raw_shards.write_dead_letters(out_dir, shards)
        write_card(out_dir, meta)
        for folder in (out_dir, parquet_dir):
            files.write_text(f"{folder}/{schema.BUILD_METADATA}", json.dumps(meta, ensure_ascii=False, indent=2))
        publish.publish(out_dir, final_dir, marker=TFDS_MARKER)
        publish.publish(parquet_dir, parquet_final, marker=schema.BUILD_METADATA)
    return _result(meta, final_dir, parquet_final, seconds=time.time() - started)


def _result(meta: dict, final_dir: str, parquet_final: str, *, seconds: float) -> BuildResult:
    """What the build reports, from its ``build_metadata.json``."""
    balance = accounting(meta["counters"])
    return BuildResult(
        dataset=schema.NAME,
        out_dir=final_dir,
        unit="pairs",
        splits=meta["split_rows"],
        balances={
            **raw_shard_balance(meta.get("raw_shards")),
            "lines": (balance["lines_read"], balance["items_parsed"], balance["lines_dropped"]),
            "candidate pairs": (balance["pair_candidates"], balance["pairs_written"], balance["pairs_dropped"]),
        },
        counts={"by_pair_type_and_source": meta["counts_by_pair_type_and_source"], "accounting": balance},
        metrics=meta["counters"],
        outputs={
            "card": f"{final_dir}/README.md",
            "metadata": f"{final_dir}/{schema.BUILD_METADATA}",
            "Parquet": parquet_final,
            **({"entities": meta["entities"]["table"]} if meta.get("entities") else {}),
        },
        seconds=seconds,
        buckets=meta["buckets"],
    )


def _describe_dataflow_jobs(
    patterns: list[str], final_dir: str, parquet_final: str, config: TextPairsConfig, options: BuildOptions
) -> BuildResult:
    """Describe the three passes as Dataflow jobs into the dry-run file; nothing is read, written or submitted."""
    started = time.time()
    num_buckets = options.buckets or DRY_RUN_BUCKETS
    dry = dataflow_dry_run_config(options.runner)
    out_dir, parquet_dir = f"{final_dir}.incomplete-dataflow", f"{parquet_final}.incomplete-dataflow"
    dirs = {name: f"{out_dir}/_work/{name}" for name in WORK_FOLDERS}
    passes = {
        "extract": lambda p: _extract(p, patterns, config, num_buckets, dirs, out_dir, {}),
        "join": lambda p: _join(p, config, num_buckets, dirs, out_dir, {}),
        "finalize": lambda p: _finalize(p, config, num_buckets, dirs, out_dir, parquet_dir),
    }
    jobs = {}
    for name, add_pass in passes.items():
        pipeline = beam.Pipeline(options=pipeline_options(dry))
        add_pass(pipeline)
        jobs[name] = describe_dataflow_job(pipeline, output=final_dir)
    job_file = options.dry_run_dataflow
    files.write_text(job_file, json.dumps({"passes": jobs, "output": final_dir}, indent=1, default=str))
    return BuildResult(
        dataset=schema.NAME,
        out_dir=final_dir,
        unit="pairs",
        seconds=time.time() - started,
        job_file=job_file,
        buckets=num_buckets,
    )
