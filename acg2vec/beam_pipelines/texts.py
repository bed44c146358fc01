"""Raw crawl items -> the text-pair corpus ``acg_text_pairs`` (TFDS + zstd Parquet), with flat memory.

The local runner keeps every group-by in memory, so the build never groups the corpus as a whole. Three
Beam pipelines run one after another; each hands the next hash-partitioned bucket files:

1. **extract** (map only): read ``raw/<source>/<kind>-*.jsonl.gz``, validate items, extract pairs, clean and
   tag them; pairs go to *pair buckets* by a hash of the anchor's de-duplication key, join parts (titles and
   character names, wiki intros) to *join buckets* by join key.
2. **join**: one bucket at a time per worker, resolve the joins (title <-> character, summary <-> summary),
   clean the new pairs and add them to the pair buckets.
3. **finalize**: one pair bucket at a time per worker: exact de-duplication (every copy of a pair shares
   the bucket), MinHash near-duplicate removal of summaries with the same anchor, split by entity, and one
   TFRecord shard + one Parquet file per split. Shard lengths are recorded with
   ``tfds.folder_dataset.write_metadata``; there is no global shuffle (rows in a shard are in hash order).

Peak memory is one bucket per worker; the bucket count grows with the input so buckets stay small.
Every drop is a named Beam counter (``<stage>/<reason>``) and a dead-letter line
(``{"reason", "detail", "record"}``) under ``<version>/deadletter/``; ``build_metadata.json`` shows the counts
adding up: lines read = items + bad lines; candidate pairs = written + dropped.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import logging
import math
import os
import shutil
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from acg2vec.beam_pipelines import pair_extractors as px
from acg2vec.beam_pipelines import text_normalize as tn
from acg2vec.crawlers.items import ItemError, item_from_dict
from acg2vec.datasets.acg_text_pairs import schema
from acg2vec.errors import UserError

log = logging.getLogger(__name__)

NAMESPACE = "acg_text_pairs"
SOURCES = ("bangumi", "animelist", "wikipedia", "moegirl", "pixiv")
KINDS = ("work", "character", "person", "section", "tag_translation")
# Which copy of a duplicated pair is kept: the first source in this order.
SOURCE_RANK = {name: i for i, name in enumerate(SOURCES)}
DEFAULT_SIDE_BOUNDS: dict[str, tuple[int, int]] = {
    "title": (1, 200),
    "name": (1, 100),
    "tags": (2, 400),
    "text": (10, 1000),  # longer texts are cut at a sentence end, not dropped
}
Row = tuple[str, str, str, str, str, str, str]


@dataclass(slots=True)
class TextPairsConfig:
    """Knobs of the text-pair build; the defaults are the published corpus."""

    sources: tuple[str, ...] = SOURCES
    # Per side kind (title, name, tags, text): (min, max) characters after normalisation.
    side_bounds: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_SIDE_BOUNDS))
    # Per pair type overrides: pair_type -> ((anchor min, max), (positive min, max)).
    pair_type_bounds: dict[str, tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=dict)
    # Raw texts longer than this are dropped as junk before any work is spent on them.
    huge_text_chars: int = 100_000
    max_tags: int = 10
    near_dup: bool = True
    near_dup_threshold: float = 0.8
    # Split by a stable hash of entity_id mod 1000: [0, train) train, [train, validation) validation, rest test.
    split_permille: tuple[int, int] = (800, 900)
    # 0 = one bucket per `bucket_bytes` of compressed raw input (at least 4).
    num_buckets: int = 0
    bucket_bytes: int = 4 << 20

    def bounds(self, pair_type: str) -> tuple[tuple[int, int], tuple[int, int]]:
        if pair_type in self.pair_type_bounds:
            return self.pair_type_bounds[pair_type]
        anchor_kind, positive_kind = px.PAIR_TYPES[pair_type]
        return self.side_bounds[anchor_kind], self.side_bounds[positive_kind]


# -- per-record logic (plain functions, shared by the Beam pipeline and the in-process builder) ---------------


def dead_letter(reason: str, record: Any, detail: str = "") -> str:
    if isinstance(record, str | bytes) and len(record) > 2000:
        record = record[:2000]
    return json.dumps({"reason": reason, "detail": detail, "record": record}, ensure_ascii=False, default=repr)


def _clean_side(text: str, kind: str, bounds: tuple[int, int], config: TextPairsConfig) -> tuple[str | None, str]:
    if kind in ("text", "tags"):
        text = tn.strip_markup(text)
    text = tn.normalize_text(text)
    if not text:
        return None, "empty-text"
    low, high = bounds
    if len(text) > high:
        if kind != "text":
            return None, "too-long"
        text = tn.truncate(text, high)
    if len(text) < low:
        return None, "too-short"
    return text, ""


def clean_pair(raw: px.RawPair, config: TextPairsConfig) -> tuple[Row | None, str]:
    """The cleaned row of a raw pair, or ``(None, reason)``: empty, too short / long, huge, same sides."""
    if len(raw.anchor) > config.huge_text_chars or len(raw.positive) > config.huge_text_chars:
        return None, "huge-text"
    anchor_bounds, positive_bounds = config.bounds(raw.pair_type)
    anchor_kind, positive_kind = px.PAIR_TYPES[raw.pair_type]
    positive_raw = raw.positive
    if positive_kind == "tags":
        positive_raw = " ".join(positive_raw.split(" ")[: config.max_tags])
    anchor, reason = _clean_side(raw.anchor, anchor_kind, anchor_bounds, config)
    if anchor is None:
        return None, f"anchor-{reason}"
    positive, reason = _clean_side(positive_raw, positive_kind, positive_bounds, config)
    if positive is None:
        return None, f"positive-{reason}"
    if tn.dedup_key(anchor) == tn.dedup_key(positive):
        return None, "same-sides"
    return (
        anchor,
        positive,
        raw.pair_type,
        raw.source,
        raw.entity_id,
        tn.tag_language(anchor, raw.anchor_decl),
        tn.tag_language(positive, raw.positive_decl),
    ), ""


def stable_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def pair_bucket(row: Row, num_buckets: int) -> int:
    """Every copy of a pair (same normalised anchor) lands in the same bucket."""
    return stable_hash(tn.dedup_key(row[0])) % num_buckets


def split_of(entity_id: str, split_permille: tuple[int, int] = (800, 900)) -> str:
    """The split of an entity: a stable hash of its id, so re-runs and re-crawls never move it."""
    value = int.from_bytes(hashlib.md5(entity_id.encode("utf-8")).digest()[:8], "big") % 1000
    if value < split_permille[0]:
        return "train"
    return "validation" if value < split_permille[1] else "test"


def example_serializer():
    """A function row -> serialized ``tf.train.Example`` in the layout of :func:`make_features` (one bytes value per column).

    Builds the proto directly instead of going through TFDS's generic encoder, which costs ~100 us a row (7x more).
    A fresh message per row: a reused, cleared upb message keeps growing its arena (~1.5 KB a row).
    """
    import tensorflow as tf

    example_cls = tf.train.Example
    columns = schema.COLUMNS

    def serialize(row: Row) -> bytes:
        example = example_cls()
        feature = example.features.feature
        for name, value in zip(columns, row, strict=True):
            feature[name].bytes_list.value.append(value.encode("utf-8"))
        return example.SerializeToString(deterministic=True)

    return serialize


def row_key(row: Row) -> str:
    """A stable id of a row (also its TFDS example key)."""
    return hashlib.md5("\x1f".join(row[:5]).encode("utf-8")).hexdigest()


def join_to_json(part: px.JoinPart) -> str:
    return json.dumps(
        [part.key, part.role, part.source, part.entity_id, part.values, part.record_id], ensure_ascii=False
    )


def join_from_json(line: str) -> px.JoinPart:
    key, role, source, entity_id, values, record_id = json.loads(line)
    return px.JoinPart(key, role, source, entity_id, values, record_id)


@dataclass(slots=True)
class LineResult:
    """What one raw line gives: clean rows, join parts, and (reason, dead-letter line) drops."""

    rows: list[Row] = field(default_factory=list)
    joins: list[px.JoinPart] = field(default_factory=list)
    drops: list[tuple[str, str]] = field(default_factory=list)
    candidates: int = 0
    item_ok: bool = False


def process_line(line: str | bytes, config: TextPairsConfig) -> LineResult:
    """Parse, validate, extract and clean one raw line; every drop is named (``line/``, ``item/``, ``pair/``)."""
    out = LineResult()
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError) as err:
        out.drops.append(("line/malformed-json", dead_letter("malformed-json", line, str(err)[:200])))
        return out
    try:
        item = item_from_dict(data)
    except ItemError as err:
        out.drops.append((f"line/{err.reason}", dead_letter(err.reason, data, err.detail)))
        return out
    out.item_ok = True
    extracted = px.extract(item)
    if extracted.dropped:
        out.drops.append((f"item/{extracted.dropped}", dead_letter(extracted.dropped, data)))
    out.joins = extracted.joins
    add_pairs(out, extracted.pairs, config)
    return out


def add_pairs(out: LineResult, pairs: Iterable[px.RawPair], config: TextPairsConfig) -> None:
    for raw in pairs:
        out.candidates += 1
        row, reason = clean_pair(raw, config)
        if row is None:
            out.drops.append((f"pair/{reason}", dead_letter(reason, asdict(raw))))
        else:
            out.rows.append(row)


@dataclass(slots=True)
class BucketResult:
    """One finalised bucket: rows by split (in shard order) and the duplicates dropped."""

    rows: dict[str, list[Row]]
    drops: list[tuple[str, str]]


def finalize_rows(rows: Iterable[Row], config: TextPairsConfig) -> BucketResult:
    """Exact de-duplication, near-duplicate removal of summaries, split by entity, shard order."""
    from acg2vec.beam_pipelines.minhash import MinHashConfig, MinHasher

    best: dict[tuple[str, str], tuple[tuple, Row]] = {}
    drops: list[tuple[str, str]] = []
    for row in rows:
        key = (tn.dedup_key(row[0]), tn.dedup_key(row[1]))
        rank = (SOURCE_RANK.get(row[3], len(SOURCE_RANK)), row[3], row[2], row[4], row)
        held = best.get(key)
        if held is None:
            best[key] = (rank, row)
            continue
        loser = row if rank >= held[0] else held[1]
        if rank < held[0]:
            best[key] = (rank, row)
        drops.append(("dedup/duplicate", dead_letter("duplicate", list(loser))))
    ranked = sorted(entry for entry in best.values())
    kept = [row for _, row in ranked]
    if config.near_dup:
        hasher = MinHasher(MinHashConfig(threshold=config.near_dup_threshold))
        # Summaries of one anchor, best-ranked source first (the one kept when two nearly match).
        groups: dict[str, list[int]] = defaultdict(list)
        for i, row in enumerate(kept):
            if row[2] in px.SUMMARY_TYPES:
                groups[tn.dedup_key(row[0])].append(i)
        removed: set[int] = set()
        for members in groups.values():
            if len(members) < 2:
                continue
            for index, match in zip(members, hasher.near_duplicates([kept[i][1] for i in members]), strict=True):
                if match is not None:
                    removed.add(index)
                    drops.append(("dedup/near-duplicate", dead_letter("near-duplicate", list(kept[index]))))
        kept = [row for i, row in enumerate(kept) if i not in removed]
    by_split: dict[str, list[Row]] = {split: [] for split in schema.SPLITS}
    for row in kept:
        by_split[split_of(row[4], config.split_permille)].append(row)
    for split_rows in by_split.values():
        # Hash order spreads one anchor's rows over the shard, so neighbouring rows are unrelated.
        split_rows.sort(key=lambda r: (stable_hash(r[0] + "\x1f" + r[1]), r))
    return BucketResult(by_split, drops)


def raw_files(raw_root: str, config: TextPairsConfig) -> list[str]:
    """The raw item shards the build reads: ``<raw>/<source>/<kind>-*.jsonl[.gz]`` for the configured sources."""
    files: list[str] = []
    for source in config.sources:
        for kind in KINDS:
            files.extend(sorted(glob.glob(os.path.join(raw_root, source, f"{kind}-*.jsonl*"))))
    return files


def _read_lines(path: str) -> Iterator[str]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                yield line


def rows_in_memory(raw_root: str, config: TextPairsConfig | None = None) -> dict[str, list[Row]]:
    """The whole build in one process and in memory: the same rows as :func:`build_text_pairs`, for small inputs.

    Drops are counted by reason and logged (no dead-letter files: the Beam build writes those).
    """
    config = config or TextPairsConfig()
    rows: list[Row] = []
    drops: Counter[str] = Counter()
    joins: dict[str, list[px.JoinPart]] = defaultdict(list)
    for path in raw_files(raw_root, config):
        for line in _read_lines(path):
            result = process_line(line, config)
            rows.extend(result.rows)
            drops.update(reason for reason, _ in result.drops)
            for part in result.joins:
                joins[part.key].append(part)
    for parts in joins.values():
        pairs, unmatched = px.resolve_join(parts)
        drops["joins/character-work-missing"] += len(unmatched)
        result = LineResult()
        add_pairs(result, pairs, config)
        rows.extend(result.rows)
        drops.update(reason for reason, _ in result.drops)
    final = finalize_rows(rows, config)
    drops.update(reason for reason, _ in final.drops)
    log.info(
        "acg_text_pairs (in memory): %d rows; drops %s",
        sum(map(len, final.rows.values())),
        dict(sorted(drops.items())),
    )
    return final.rows


# -- Beam ------------------------------------------------------------------------------------------------------


def _beam_fns():
    """The DoFns, defined on first use so importing this module does not import Beam."""
    import apache_beam as beam
    from apache_beam.metrics import Metrics

    counters: dict[str, Any] = {}

    def count(name: str, n: int = 1) -> None:
        if name not in counters:
            counters[name] = Metrics.counter(NAMESPACE, name)
        counters[name].inc(n)

    class ExtractPairsFn(beam.DoFn):
        """Raw line -> (bucket, row json) pairs; ``join`` output: (bucket, join part json); ``dead`` output."""

        def __init__(self, config: TextPairsConfig, num_buckets: int) -> None:
            self.config = config
            self.num_buckets = num_buckets

        def process(self, line: str) -> Iterator[Any]:
            count("lines/read")
            result = process_line(line, self.config)
            if result.item_ok:
                count("items/parsed")
            if result.candidates:
                count("pairs/candidates", result.candidates)
            for reason, dead in result.drops:
                count(reason)
                yield beam.pvalue.TaggedOutput("dead", dead)
            for row in result.rows:
                count("pairs/cleaned")
                yield pair_bucket(row, self.num_buckets), json.dumps(row, ensure_ascii=False)
            for part in result.joins:
                count(f"joins/{part.role}")
                yield beam.pvalue.TaggedOutput("join", (stable_hash(part.key) % self.num_buckets, join_to_json(part)))

    class ResolveJoinsFn(beam.DoFn):
        """Join bucket number -> (pair bucket, row json) of the pairs its joins make; ``dead`` output."""

        def __init__(self, config: TextPairsConfig, num_buckets: int, join_dir: str) -> None:
            self.config = config
            self.num_buckets = num_buckets
            self.join_dir = join_dir

        def process(self, bucket: int) -> Iterator[Any]:
            groups: dict[str, list[px.JoinPart]] = defaultdict(list)
            for path in sorted(glob.glob(os.path.join(self.join_dir, f"{bucket:05d}-*"))):
                for line in _read_lines(path):
                    part = join_from_json(line)
                    groups[part.key].append(part)
            for key in sorted(groups):
                pairs, unmatched = px.resolve_join(groups[key])
                for part in unmatched:
                    count("joins/character-work-missing")
                    yield beam.pvalue.TaggedOutput("dead", dead_letter("character-work-missing", join_to_json(part)))
                result = LineResult()
                add_pairs(result, pairs, self.config)
                if result.candidates:
                    count("pairs/candidates", result.candidates)
                for reason, dead in result.drops:
                    count(reason)
                    yield beam.pvalue.TaggedOutput("dead", dead)
                for row in result.rows:
                    count("pairs/cleaned")
                    yield pair_bucket(row, self.num_buckets), json.dumps(row, ensure_ascii=False)

    class FinalizeBucketFn(beam.DoFn):
        """Pair bucket number -> TFRecord + Parquet files per split; yields the bucket's stats as json."""

        def __init__(self, config: TextPairsConfig, pair_dirs: list[str], out_dir: str, parquet_root: str) -> None:
            self.config = config
            self.pair_dirs = pair_dirs
            self.out_dir = out_dir
            self.parquet_root = parquet_root

        def setup(self) -> None:
            self.serialize = example_serializer()

        def process(self, bucket: int) -> Iterator[str]:
            import pyarrow as pa
            import pyarrow.parquet as pq
            import tensorflow as tf

            def rows() -> Iterator[Row]:
                for pair_dir in self.pair_dirs:
                    for path in sorted(glob.glob(os.path.join(pair_dir, f"{bucket:05d}-*"))):
                        for line in _read_lines(path):
                            yield tuple(json.loads(line))

            result = finalize_rows(rows(), self.config)
            stats: dict[str, Any] = {
                "bucket": bucket,
                "splits": {},
                "counts": [],
                "drops": dict(Counter(r for r, _ in result.drops)),
            }
            if result.drops:
                dead_path = os.path.join(self.out_dir, "deadletter", f"finalize-{bucket:05d}.jsonl.gz")
                with gzip.open(dead_path, "wt", encoding="utf-8") as fh:
                    for reason, dead in result.drops:
                        count(reason)
                        fh.write(dead + "\n")
            counts: Counter[tuple[str, str, str]] = Counter()
            for split, split_rows in result.rows.items():
                if not split_rows:
                    continue
                path = os.path.join(self.out_dir, f"_bucket-{split}-{bucket:05d}.tfrecord")
                with tf.io.TFRecordWriter(path) as writer:
                    for row in split_rows:
                        writer.write(self.serialize(row))
                        counts[(split, row[2], row[3])] += 1
                table = pa.table({name: [r[i] for r in split_rows] for i, name in enumerate(schema.COLUMNS)})
                parquet_dir = schema.parquet_dir(self.parquet_root, split)
                os.makedirs(parquet_dir, exist_ok=True)
                pq.write_table(table, os.path.join(parquet_dir, f"part-{bucket:05d}.parquet"), compression="zstd")
                count(f"rows/{split}", len(split_rows))
                stats["splits"][split] = {"path": path, "rows": len(split_rows), "bytes": os.path.getsize(path)}
            stats["counts"] = [[s, t, src, n] for (s, t, src), n in sorted(counts.items())]
            yield json.dumps(stats)

    return beam, ExtractPairsFn, ResolveJoinsFn, FinalizeBucketFn


def _bucket_sink():
    from apache_beam.io import fileio

    class BucketLineSink(fileio.TextSink):
        def write(self, record: tuple[int, str]) -> None:
            super().write(record[1])

    return BucketLineSink()


def _write_buckets(pcoll, path: str, num_buckets: int, label: str):
    from apache_beam.io import fileio

    return pcoll | label >> fileio.WriteToFiles(
        path=path,
        destination=lambda element: f"{element[0]:05d}",
        sink=lambda _dest: _bucket_sink(),
        file_naming=fileio.destination_prefix_naming(".jsonl"),
        # One writer per bucket in each bundle: nothing spills into a group-by.
        max_writers_per_bundle=num_buckets + 1,
    )


def _counters(result) -> Counter[str]:
    from apache_beam.metrics.metric import MetricsFilter

    totals: Counter[str] = Counter()
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] += int(value or 0)
    return totals


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


def auto_buckets(files: list[str], config: TextPairsConfig) -> int:
    if config.num_buckets > 0:
        return config.num_buckets
    total = sum(os.path.getsize(f) for f in files)
    return max(4, min(4096, math.ceil(total / config.bucket_bytes)))


def build_text_pairs(
    raw_root: str,
    datasets_root: str,
    *,
    config: TextPairsConfig | None = None,
    runner: str = "direct",
    runner_args: list[str] | None = None,
    workers: int | None = None,
    mode: str = "multi_processing",
    keep_temp: bool = False,
    overwrite: bool = True,
) -> BuildReport:
    """Build ``acg_text_pairs`` from ``raw_root`` into ``datasets_root`` (TFDS folder + Parquet); see the module doc."""

    config = config or TextPairsConfig()
    started = time.time()
    files = raw_files(raw_root, config)
    if not files:
        raise UserError(
            f"No raw items under {raw_root} (expected <source>/<kind>-*.jsonl.gz for sources {', '.join(config.sources)}); "
            "crawl first with `acg2vec crawl`."
        )
    from acg2vec.beam_pipelines.options import RunnerConfig, pipeline_options
    from acg2vec.datasets.acg_text_pairs.acg_text_pairs_dataset_builder import Builder

    # Options first: a wrong runner argument must fail before anything is deleted.
    options = pipeline_options(RunnerConfig(runner=runner, workers=workers, mode=mode, args=tuple(runner_args or ())))
    version = str(Builder.VERSION)
    out_dir = os.path.join(datasets_root, schema.NAME, version)
    parquet_root = datasets_root
    if os.path.exists(out_dir):
        if not overwrite:
            raise UserError(f"{out_dir} already exists; pass --overwrite to rebuild it.")
        shutil.rmtree(out_dir)
    for split in schema.SPLITS:
        shutil.rmtree(schema.parquet_dir(parquet_root, split), ignore_errors=True)
    work_dir = os.path.join(datasets_root, schema.NAME, f"_work-{version}")
    shutil.rmtree(work_dir, ignore_errors=True)
    os.makedirs(os.path.join(out_dir, "deadletter"), exist_ok=True)
    num_buckets = auto_buckets(files, config)
    log.info("acg_text_pairs: %d raw files, %d buckets, runner %s (%s)", len(files), num_buckets, runner, mode)
    beam, ExtractPairsFn, ResolveJoinsFn, FinalizeBucketFn = _beam_fns()
    pairs_extract = os.path.join(work_dir, "pairs-extract")
    pairs_join = os.path.join(work_dir, "pairs-join")
    join_dir = os.path.join(work_dir, "joins")
    dead_prefix = os.path.join(out_dir, "deadletter")
    counters: Counter[str] = Counter()

    # 1. extract: map only, bucket files out.
    log.info("acg_text_pairs 1/3: extract pairs from %d files", len(files))
    timer = time.time()
    with beam.Pipeline(options=options) as p:
        outputs = (
            p
            | "Files" >> beam.Create(files)
            | "ReadLines" >> beam.io.ReadAllFromText()
            | "Extract" >> beam.ParDo(ExtractPairsFn(config, num_buckets)).with_outputs("join", "dead", main="pairs")
        )
        _write_buckets(outputs.pairs, pairs_extract, num_buckets, "WritePairBuckets")
        _write_buckets(outputs.join, join_dir, num_buckets, "WriteJoinBuckets")
        outputs.dead | "WriteDead" >> beam.io.WriteToText(
            os.path.join(dead_prefix, "extract"), file_name_suffix=".jsonl.gz"
        )
    counters.update(_counters(p.result))
    log.info(
        "acg_text_pairs 1/3 done in %.0f s: %d lines, %d candidate pairs",
        time.time() - timer,
        counters["lines/read"],
        counters["pairs/candidates"],
    )

    # 2. join: one join bucket at a time per worker.
    log.info("acg_text_pairs 2/3: resolve joins")
    timer = time.time()
    with beam.Pipeline(options=options) as p:
        outputs = (
            p
            | "Buckets" >> beam.Create(range(num_buckets))
            | "Spread" >> beam.Reshuffle()
            | "Join" >> beam.ParDo(ResolveJoinsFn(config, num_buckets, join_dir)).with_outputs("dead", main="pairs")
        )
        _write_buckets(outputs.pairs, pairs_join, num_buckets, "WritePairBuckets")
        outputs.dead | "WriteDead" >> beam.io.WriteToText(
            os.path.join(dead_prefix, "join"), file_name_suffix=".jsonl.gz"
        )
    counters.update(_counters(p.result))
    log.info("acg_text_pairs 2/3 done in %.0f s", time.time() - timer)

    # 3. finalize: one pair bucket at a time per worker; shards and stats out.
    log.info("acg_text_pairs 3/3: de-duplicate, split and write shards")
    stats_prefix = os.path.join(work_dir, "stats")
    timer = time.time()
    with beam.Pipeline(options=options) as p:
        (
            p
            | "Buckets" >> beam.Create(range(num_buckets))
            | "Spread" >> beam.Reshuffle()
            | "Finalize" >> beam.ParDo(FinalizeBucketFn(config, [pairs_extract, pairs_join], out_dir, parquet_root))
            | "WriteStats" >> beam.io.WriteToText(stats_prefix, file_name_suffix=".jsonl", num_shards=1)
        )
    counters.update(_counters(p.result))
    log.info("acg_text_pairs 3/3 done in %.0f s", time.time() - timer)
    stats = [json.loads(line) for path in sorted(glob.glob(stats_prefix + "*")) for line in _read_lines(path)]
    report = _publish(out_dir, parquet_root, num_buckets, stats, counters, config)
    if not keep_temp:
        shutil.rmtree(work_dir, ignore_errors=True)
    report.seconds = time.time() - started
    _write_metadata_json(report, files, config)
    return report


def _publish(
    out_dir: str,
    parquet_root: str,
    num_buckets: int,
    stats: list[dict],
    counters: Counter[str],
    config: TextPairsConfig,
) -> BuildReport:
    """Name the bucket files as TFDS shards, record shard lengths, write the dataset card."""
    import tensorflow_datasets as tfds

    from acg2vec.datasets.acg_text_pairs.acg_text_pairs_dataset_builder import (
        DESCRIPTION,
        HOMEPAGE,
        SUPERVISED_KEYS,
        Builder,
        make_features,
    )

    template = tfds.core.ShardedFileTemplate(
        data_dir=out_dir,
        template="{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}",
        dataset_name=schema.NAME,
        filetype_suffix="tfrecord",
    )
    split_infos = []
    split_rows: dict[str, int] = {}
    for split in schema.SPLITS:
        shards = sorted((s["bucket"], s["splits"][split]) for s in stats if split in s["splits"])
        lengths: list[int] = []
        num_bytes = 0
        for index, (_, shard) in enumerate(shards):
            target = template.replace(split=split).sharded_filepath(shard_index=index, num_shards=len(shards))
            os.replace(shard["path"], os.fspath(target))
            lengths.append(shard["rows"])
            num_bytes += shard["bytes"]
        if not lengths:
            # TFDS wants at least one shard per declared split; an empty file is a valid empty TFRecord.
            target = template.replace(split=split).sharded_filepath(shard_index=0, num_shards=1)
            Path(os.fspath(target)).touch()
            lengths = [0]
        split_infos.append(
            tfds.core.SplitInfo(name=split, shard_lengths=lengths, num_bytes=num_bytes, filename_template=template)
        )
        split_rows[split] = sum(lengths)
    tfds.folder_dataset.write_metadata(
        data_dir=out_dir,
        features=make_features(),
        split_infos=split_infos,
        filename_template=template,
        version=str(Builder.VERSION),
        description=DESCRIPTION,
        supervised_keys=SUPERVISED_KEYS,
        homepage=HOMEPAGE,
        check_data=True,
    )
    by_type_source: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in stats:
        for _split, pair_type, source, n in s["counts"]:
            by_type_source[pair_type][source] += n
    report = BuildReport(
        out_dir=out_dir,
        parquet_root=parquet_root,
        num_buckets=num_buckets,
        split_rows=split_rows,
        counters=dict(sorted(counters.items())),
        counts_by_type_source={t: dict(sorted(v.items())) for t, v in sorted(by_type_source.items())},
        metadata_path=os.path.join(out_dir, "build_metadata.json"),
    )
    return report


def accounting(counters: dict[str, int]) -> dict[str, Any]:
    """The two balances of a build: lines read = items + bad lines; candidates = written + dropped."""
    line_drops = sum(v for k, v in counters.items() if k.startswith("line/"))
    pair_drops = sum(v for k, v in counters.items() if k.startswith(("pair/", "dedup/")))
    written = sum(v for k, v in counters.items() if k.startswith("rows/"))
    lines = counters.get("lines/read", 0)
    candidates = counters.get("pairs/candidates", 0)
    return {
        "lines_read": lines,
        "items_parsed": counters.get("items/parsed", 0),
        "lines_dropped": line_drops,
        "lines_add_up": lines == counters.get("items/parsed", 0) + line_drops,
        "pair_candidates": candidates,
        "pairs_written": written,
        "pairs_dropped": pair_drops,
        "pairs_add_up": candidates == written + pair_drops,
    }


def _write_metadata_json(report: BuildReport, files: list[str], config: TextPairsConfig) -> None:
    balance = accounting(report.counters)
    meta = {
        "dataset": schema.NAME,
        "version": os.path.basename(report.out_dir),
        "raw_files": len(files),
        "buckets": report.num_buckets,
        "seconds": round(report.seconds, 1),
        "split_rows": report.split_rows,
        "accounting": balance,
        "counters": report.counters,
        "counts_by_pair_type_and_source": report.counts_by_type_source,
        "config": asdict(config),
    }
    Path(report.metadata_path).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    Path(report.out_dir, "README.md").write_text(dataset_card(meta), encoding="utf-8")
    _plot_counts(report, os.path.join(report.out_dir, "pair_types.png"))


def dataset_card(meta: dict[str, Any]) -> str:
    """The dataset card of one build: splits, counts by pair type and source, drops by reason."""
    lines = [
        f"# {schema.NAME} {meta['version']}",
        "",
        "Multilingual ACG text pairs built by `acg2vec build texts`. Split by entity_id (stable hash).",
        "",
        "| split | rows |",
        "|---|---:|",
        *[f"| {s} | {n} |" for s, n in meta["split_rows"].items()],
        "",
        "## Pairs by type and source",
        "",
        "| pair type | source | rows |",
        "|---|---|---:|",
    ]
    for pair_type, sources in meta["counts_by_pair_type_and_source"].items():
        lines += [f"| {pair_type} | {src} | {n} |" for src, n in sources.items()]
    lines += ["", "## Drops by reason", "", "| reason | count |", "|---|---:|"]
    lines += [
        f"| {k} | {v} |"
        for k, v in meta["counters"].items()
        if k.startswith(("line/", "item/", "pair/", "dedup/", "joins/character-work"))
    ]
    acc = meta["accounting"]
    lines += [
        "",
        f"Lines read {acc['lines_read']} = items {acc['items_parsed']} + bad lines {acc['lines_dropped']}; "
        f"candidate pairs {acc['pair_candidates']} = written {acc['pairs_written']} + dropped {acc['pairs_dropped']}.",
        "",
    ]
    return "\n".join(lines)


def _plot_counts(report: BuildReport, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = list(report.counts_by_type_source)
    totals = [sum(report.counts_by_type_source[t].values()) for t in types]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(types) + 1.5))
    ax.barh(types, totals)
    ax.set_xlabel("rows")
    ax.set_title(f"{schema.NAME}: rows by pair type")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
