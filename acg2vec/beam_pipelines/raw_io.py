"""Reading crawl item shards (``raw/<source>/<kind>-*.jsonl.gz``) in Beam, with bad lines dead-lettered.

The API, shared by every build:

- :class:`ReadItems` — ``pipeline | ReadItems(pattern, kind="post", step="Posts")`` returns a
  :class:`ItemOutputs` (``.items``: validated :class:`acg2vec.crawlers.items.Item` objects; ``.dead``: dead-letter
  records). Each line read is counted in the Beam counter ``<step>-read``; each bad line in ``<step>-<reason>``.
- :func:`dead_letter` — the dead-letter record shape, ``{"reason", "detail", "step", "record"}`` (the shape of
  :mod:`acg2vec.deadletter`, plus the step that dropped it).
- :class:`WriteDeadLetters` — writes a PCollection of dead-letter records as gzip jsonl shards.
- :func:`shard_pattern` / :func:`has_shards` — the file pattern of one item kind and whether it matches anything.
- :class:`WriteBuckets` / :func:`read_bucket` / :func:`bucket_of` — hash-partitioned line files, how the passes of
  a flat-memory build hand records to each other without a group-by.

Paths may be local or any file system Beam supports (gs://, s3://, hdfs://).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from acg2vec.crawlers.items import ItemError, item_from_dict

DEAD = "dead"  # tag of the dead-letter output of the DoFns in acg2vec.beam_pipelines
NAMESPACE = "acg2vec"  # Beam metrics namespace


def shard_pattern(raw_source_dir: str, kind: str) -> str:
    """The glob of one item kind's shards in ``raw/<source>/``, e.g. ``.../raw/safebooru/post-*.jsonl.gz``."""
    return FileSystems.join(raw_source_dir, f"{kind}-*.jsonl.gz")


def has_shards(pattern: str) -> bool:
    """True when ``pattern`` matches at least one file."""
    try:
        return bool(FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # noqa: BLE001 - a missing folder is "no shards", on every file system
        return False


def dead_letter(reason: str, record: Any, *, step: str, detail: str = "") -> dict[str, Any]:
    """One dead-letter record; ``record`` is the JSON-ready input that was dropped (or its repr)."""
    return {"reason": reason, "detail": detail[:500], "step": step, "record": _jsonable(record)}


def _jsonable(record: Any) -> Any:
    if isinstance(record, bytes):
        return record[:2000].decode("utf-8", errors="replace")
    try:
        json.dumps(record, ensure_ascii=False)
        return record
    except (TypeError, ValueError):
        return repr(record)[:2000]


class ParseItems(beam.DoFn):
    """JSON line -> validated item of ``kind``; bad lines go to the ``dead`` output with a named reason.

    Reasons: ``bad-json``, ``wrong-kind`` and the :class:`ItemError` reasons (``missing-field``, ``wrong-type``,
    ``unknown-kind``, ``not-an-object``).
    """

    def __init__(self, kind: str, step: str) -> None:
        self.kind = kind
        self.step = step
        self.read = beam.metrics.Metrics.counter(NAMESPACE, f"{step}-read")

    def _drop(self, reason: str, line: Any, detail: str = ""):
        beam.metrics.Metrics.counter(NAMESPACE, f"{self.step}-{reason}").inc()
        return beam.pvalue.TaggedOutput(DEAD, dead_letter(reason, line, step=self.step, detail=detail))

    def process(self, line: str):
        self.read.inc()
        try:
            data = json.loads(line)
        except ValueError as err:
            yield self._drop("bad-json", line, str(err))
            return
        try:
            item = item_from_dict(data)
        except ItemError as err:
            yield self._drop(err.reason, data, err.detail)
            return
        if item.kind != self.kind:
            yield self._drop("wrong-kind", data, f"expected {self.kind}, got {item.kind}")
            return
        yield item


@dataclass(slots=True)
class ItemOutputs:
    """What :class:`ReadItems` returns: validated items and dead-letter records."""

    items: beam.PCollection
    dead: beam.PCollection


class ReadItems(beam.PTransform):
    """Read ``*.jsonl.gz`` item shards matching ``pattern`` and validate each line as an item of ``kind``.

    No matching shard means no items (check with :func:`has_shards` first where that is a mistake).
    Blank lines are skipped (not items). ``step`` names the Beam steps and counters (``<step>-read`` ...).
    """

    def __init__(self, pattern: str, *, kind: str, step: str | None = None) -> None:
        super().__init__()
        self.pattern = pattern
        self.kind = kind
        self.step = step or kind

    def expand(self, pbegin: beam.pvalue.PBegin) -> ItemOutputs:
        # The pattern is matched when the job runs, not while it is described (no file-system access, no
        # credentials); a wildcard that matches nothing reads no lines.
        lines = (
            pbegin
            | f"{self.step}Pattern" >> beam.Create([self.pattern])
            | f"Read{self.step}" >> beam.io.ReadAllFromText()
        )
        parsed = (
            lines
            | f"SkipBlank{self.step}" >> beam.Filter(lambda line: bool(line.strip()))
            | f"Parse{self.step}" >> beam.ParDo(ParseItems(self.kind, self.step)).with_outputs(DEAD, main="items")
        )
        return ItemOutputs(items=parsed.items, dead=parsed[DEAD])


class WriteDeadLetters(beam.PTransform):
    """Write dead-letter records to ``<prefix>-SSSSS-of-NNNNN.jsonl.gz`` (one JSON object per line)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def expand(self, dead: beam.PCollection) -> beam.PDone:
        return (
            dead
            | "DeadLetterToJson" >> beam.Map(lambda rec: json.dumps(rec, ensure_ascii=False, sort_keys=True))
            | "WriteDeadLetterShards" >> beam.io.WriteToText(self.prefix, file_name_suffix=".jsonl.gz")
        )


# -- Bucket files: how the passes of a flat-memory build hand records to each other -------------------------


def bucket_of(key: str, num_buckets: int) -> int:
    """The bucket of ``key``: the same in every worker process and every run (Python's ``hash`` is salted)."""
    return zlib.crc32(key.encode("utf-8")) % num_buckets


def bucket_pattern(directory: str, bucket: int) -> str:
    """The files of one bucket written by :class:`WriteBuckets` (one per bundle that had records for it)."""
    return FileSystems.join(directory, f"{bucket:05d}-*")


def read_bucket(directory: str, bucket: int) -> Iterator[str]:
    """The lines of one bucket, file by file in name order; a bucket nobody wrote to has no lines."""
    try:
        matched = FileSystems.match([bucket_pattern(directory, bucket)])[0].metadata_list
    except Exception:  # noqa: BLE001 - a folder that was never created is an empty bucket, on every file system
        return
    for path in sorted(m.path for m in matched):
        with FileSystems.open(path, compression_type="uncompressed") as fh:
            for raw in fh:
                line = raw.decode("utf-8").rstrip("\n")
                if line:
                    yield line


class _BucketLineSink(fileio.TextSink):
    """Writes the line of a ``(bucket, line)`` pair; the bucket only chose the file."""

    def write(self, record: tuple[int, str]) -> None:
        super().write(record[1])


class WriteBuckets(beam.PTransform):
    """``(bucket number, line)`` pairs -> ``<directory>/<bucket:05d>-SSSSS-of-NNNNN.jsonl`` (uncompressed).

    ``max_writers``: files a bundle keeps open. Records for further buckets spill into a group-by, which the
    local runner holds in memory; local builds therefore pass ``num_buckets + 1`` (a few KiB of buffer per open
    file), distributed runners can keep Beam's default and shuffle the spill. Uncompressed on purpose: an open
    gzip stream costs hundreds of KiB, times the number of buckets. Returns the written files' results, which a
    later pass takes as a side input so it starts only once every bucket is complete.
    """

    def __init__(self, directory: str, *, max_writers: int = fileio.WriteToFiles.MAX_NUM_WRITERS_PER_BUNDLE) -> None:
        super().__init__()
        self.directory = directory
        self.max_writers = max_writers

    def expand(self, pairs: beam.PCollection) -> beam.PCollection:
        return pairs | "WriteBucketFiles" >> fileio.WriteToFiles(
            path=self.directory,
            destination=lambda pair: f"{pair[0]:05d}",
            sink=lambda _destination: _BucketLineSink(),
            file_naming=fileio.destination_prefix_naming(".jsonl"),
            max_writers_per_bundle=self.max_writers,
        )
