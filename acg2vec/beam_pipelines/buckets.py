"""Bucket files: how the passes of a flat-memory build hand records to each other without a group-by.

``(bucket number, line)`` pairs are written with :class:`WriteBuckets` to
``<directory>/<bucket:05d>-SSSSS-of-NNNNN.jsonl``; a later pass reads one bucket with :func:`read_bucket`. Any
Beam file system (local, gs://, s3://). Both builds size their bucket count with :func:`auto_bucket_count`.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

BUCKETS_DIR = "_buckets"  # the bucket files' folder inside a build's incomplete folder; deleted before publishing


def auto_bucket_count(total_bytes: int, per: int, lo: int, hi: int) -> int:
    """One bucket per ``per`` bytes of input, at least ``lo`` and at most ``hi``.

    The count never changes a build's result, only how much one bucket holds (memory per worker); ``hi`` bounds
    the files a local worker keeps open while it writes the buckets.
    """
    return max(lo, min(hi, math.ceil(total_bytes / per)))


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


def _bucket_sink(_destination: str) -> _BucketLineSink:
    return _BucketLineSink()


def _destination(pair: tuple[int, str]) -> str:
    return f"{pair[0]:05d}"


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
            destination=_destination,
            sink=_bucket_sink,
            file_naming=fileio.destination_prefix_naming(".jsonl"),
            max_writers_per_bundle=self.max_writers,
        )


def bucket_writers(num_buckets: int, *, local: bool) -> dict[str, int]:
    """The :class:`WriteBuckets` arguments for a runner: locally one open file per bucket, else Beam's default."""
    return {"max_writers": num_buckets + 1} if local else {}
