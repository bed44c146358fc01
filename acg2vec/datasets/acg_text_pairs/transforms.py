"""The Beam DoFns of the ``acg_text_pairs`` build, one per pass (see :mod:`acg2vec.datasets.acg_text_pairs.build`).

Every file is read and written through Beam's ``FileSystems`` (local, gs://, s3://): bucket files, the TFRecord
and Parquet files of each finished bucket, and the dead letters of the finalize pass.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.tfrecordio import _TFRecordUtil

from acg2vec.beam_pipelines import buckets, files
from acg2vec.beam_pipelines.dead_letters import DEAD, count, to_json
from acg2vec.datasets.acg_text_pairs import pair_extractors, schema
from acg2vec.datasets.acg_text_pairs.records import (
    JOINS,
    LINES,
    PAIRS,
    WRITTEN,
    LineResult,
    Row,
    TextPairsConfig,
    add_pairs,
    dead_letter,
    example_serializer,
    finalize_rows,
    join_from_json,
    join_to_json,
    pair_bucket,
    process_line,
    stable_hash,
)
from acg2vec.deadletter import dead_letter_prefix

JOIN = "join"  # tag of the join-part output of the extract pass


def count_named(name: str, n: int = 1) -> None:
    """:func:`~acg2vec.beam_pipelines.dead_letters.count` of a counter already named ``<step>-<reason>`` (as the
    row functions name their drops)."""
    step, _, reason = name.partition("-")
    count(step, reason, n)


def _row_line(row: Row) -> str:
    return json.dumps(row, ensure_ascii=False)


def emit_pairs(result: LineResult, num_buckets: int) -> Iterator[Any]:
    """The cleaned rows of ``result`` as ``(pair bucket, row json)`` and its drops on the ``dead`` output, counted
    (candidates, cleaned, each drop by its reason)."""
    if result.candidates:
        count(PAIRS, "candidates", result.candidates)
    for reason, dead in result.drops:
        count_named(reason)
        yield beam.pvalue.TaggedOutput(DEAD, dead)
    for row in result.rows:
        count(PAIRS, "cleaned")
        yield pair_bucket(row, num_buckets), _row_line(row)


class ExtractPairs(beam.DoFn):
    """Raw line -> ``(pair bucket, row json)``; ``join`` output: ``(join bucket, join part json)``; ``dead``."""

    def __init__(self, config: TextPairsConfig, num_buckets: int, entities_dir: str | None = None) -> None:
        self.config = config
        self.num_buckets = num_buckets
        self.entities_dir = entities_dir  # the acg_entities table; each worker reads its record index once
        self.entities: dict[str, str] | None = None

    def setup(self) -> None:
        if self.entities_dir:
            from acg2vec.datasets.acg_entities.records import record_index

            self.entities = record_index(self.entities_dir)

    def process(self, line: str) -> Iterator[Any]:
        result = process_line(line, self.config, self.entities)
        if result.item_ok:
            count(LINES, "parsed")
        yield from emit_pairs(result, self.num_buckets)
        for part in result.joins:
            count(JOINS, part.role)
            yield beam.pvalue.TaggedOutput(JOIN, (stable_hash(part.key) % self.num_buckets, join_to_json(part)))


class ResolveJoins(beam.DoFn):
    """Join bucket number -> ``(pair bucket, row json)`` of the pairs its joins make; ``dead`` output."""

    def __init__(self, config: TextPairsConfig, num_buckets: int, join_dir: str) -> None:
        self.config = config
        self.num_buckets = num_buckets
        self.join_dir = join_dir

    def process(self, bucket: int) -> Iterator[Any]:
        groups: dict[str, list[pair_extractors.JoinPart]] = defaultdict(list)
        for line in buckets.read_bucket(self.join_dir, bucket):
            part = join_from_json(line)
            groups[part.key].append(part)
        for key in sorted(groups):
            pairs, unmatched = pair_extractors.resolve_join(groups[key])
            for part in unmatched:
                count(JOINS, "character-work-missing")
                yield beam.pvalue.TaggedOutput(DEAD, dead_letter(JOINS, "character-work-missing", join_to_json(part)))
            result = LineResult()
            add_pairs(result, pairs, self.config)
            yield from emit_pairs(result, self.num_buckets)


def bucket_shard_path(out_dir: str, split: str, bucket: int) -> str:
    return f"{out_dir}/_bucket-{split}-{bucket:05d}.tfrecord"


class FinalizeBucket(beam.DoFn):
    """Pair bucket number -> one TFRecord and one Parquet file per split; yields the bucket's stats as json.

    ``out_dir``: the TFDS folder being built; ``parquet_dir``: the Parquet folder being built (one folder per split).
    """

    def __init__(
        self, config: TextPairsConfig, pair_dirs: list[str], out_dir: str, parquet_dir: str, num_buckets: int
    ) -> None:
        self.config = config
        self.pair_dirs = pair_dirs
        self.out_dir = out_dir
        self.parquet_dir = parquet_dir
        self.num_buckets = num_buckets

    def setup(self) -> None:
        self.serialize = example_serializer()

    def _rows(self, bucket: int) -> Iterator[Row]:
        for pair_dir in self.pair_dirs:
            for line in buckets.read_bucket(pair_dir, bucket):
                yield tuple(json.loads(line))

    def process(self, bucket: int) -> Iterator[str]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        result = finalize_rows(self._rows(bucket), self.config)
        stats: dict[str, Any] = {
            "bucket": bucket,
            "splits": {},
            "counts": [],
            "drops": dict(Counter(r for r, _ in result.drops)),
        }
        if result.drops:
            prefix = dead_letter_prefix(self.out_dir, "Dedup")
            lines = []
            for reason, dead in result.drops:
                count_named(reason)
                lines.append(to_json(dead) + "\n")
            data = gzip.compress("".join(lines).encode("utf-8"), mtime=0)  # one bucket's drops: whole or absent
            files.write_bytes(f"{prefix}-{bucket:05d}-of-{self.num_buckets:05d}.jsonl.gz", data)
        counts: Counter[tuple[str, str, str]] = Counter()
        for split, split_rows in result.rows.items():
            if not split_rows:
                continue
            path = bucket_shard_path(self.out_dir, split, bucket)
            size = 0
            with files.create(path) as fh:
                for row in split_rows:
                    record = self.serialize(row)
                    _TFRecordUtil.write_record(fh, record)
                    size += len(record) + 16  # TFRecord framing: length, two CRCs
                    counts[(split, row[2], row[3])] += 1
            table = pa.table({name: [r[i] for r in split_rows] for i, name in enumerate(schema.COLUMNS)})
            parquet_path = f"{self.parquet_dir}/{split}/part-{bucket:05d}.parquet"
            with files.create(parquet_path) as fh:  # whole or absent
                pq.write_table(table, fh, compression="zstd")
            count(WRITTEN, split, len(split_rows))
            stats["splits"][split] = {"path": path, "rows": len(split_rows), "bytes": size}
        stats["counts"] = [[s, t, src, n] for (s, t, src), n in sorted(counts.items())]
        yield json.dumps(stats)
