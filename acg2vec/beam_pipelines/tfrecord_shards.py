"""A Beam file sink writing TFRecord shards capped in size, with no group-by of the data."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io import filebasedsink
from apache_beam.io.tfrecordio import _TFRecordUtil


class TFRecordShardSink(filebasedsink.FileBasedSink):
    """Beam's file sink writing TFRecords, one shard per bundle, a new one at ``max_bytes_per_shard``.

    Beam's ``WriteToTFRecord`` has no size cap and, with a fixed shard count, groups the data; this sink only
    collects file names. Shards are named ``<prefix>-SSSSS-of-NNNNN`` (TFDS's ``{SHARD_X_OF_Y}``).
    """

    def __init__(self, file_path_prefix: str, *, max_bytes_per_shard: int) -> None:
        super().__init__(
            file_path_prefix=file_path_prefix,
            coder=beam.coders.BytesCoder(),
            file_name_suffix="",
            num_shards=0,
            shard_name_template="-SSSSS-of-NNNNN",
            mime_type="application/octet-stream",
            compression_type="uncompressed",
            max_bytes_per_shard=max_bytes_per_shard,
        )

    def write_encoded_record(self, file_handle, value: bytes) -> None:
        _TFRecordUtil.write_record(file_handle, value)


def count_records(path: str) -> int:
    """The number of records in one TFRecord file, read through ``FileSystems`` (any Beam file system).

    Only the framing is read: an 8-byte length and its CRC, then the record and its CRC are skipped.
    """
    import struct

    from apache_beam.io.filesystems import FileSystems

    n = 0
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        while True:
            header = fh.read(12)
            if not header:
                return n
            if len(header) < 12:
                raise ValueError(f"{path}: truncated TFRecord header after {n} records")
            (length,) = struct.unpack("<Q", header[:8])
            fh.seek(length + 4, 1)
            n += 1


def split_shards(directory: str, dataset: str) -> dict[str, list[tuple[str, int]]]:
    """``{split: [(path, size)]}`` of the ``<dataset>-<split>.tfrecord-SSSSS-of-NNNNN`` files in ``directory``."""
    from acg2vec.beam_pipelines.files import match

    found: dict[str, list[tuple[str, int]]] = {}
    for path, size in match(f"{directory.rstrip('/')}/{dataset}-*.tfrecord-*"):
        name = path.rsplit("/", 1)[-1][len(dataset) + 1 :]
        split = name.split(".tfrecord-", 1)[0]
        found.setdefault(split, []).append((path, size))
    return found
