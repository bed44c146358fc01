"""tfrecord_shards: the size-capped TFRecord sink, record counts read through FileSystems, shards by split."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
import tensorflow as tf

from acg2vec.beam_pipelines.tfrecord_shards import TFRecordShardSink, count_records, split_shards
from tests.beam_pipelines import memory_filesystem as memfs
from tests.beam_pipelines.image_fakes import local_test_pipeline


@pytest.mark.integration
def test_sink_writes_tfrecords_tensorflow_reads_and_counts_agree(tmp_path: Path) -> None:
    records = [f"record {i}".encode() * (i + 1) for i in range(50)]
    with local_test_pipeline() as p:
        _ = (
            p
            | beam.Create(records)
            | beam.io.Write(TFRecordShardSink(str(tmp_path / "ds-train.tfrecord"), max_bytes_per_shard=1 << 20))
        )
    shards = split_shards(str(tmp_path), "ds")
    assert list(shards) == ["train"]
    paths = [path for path, _ in shards["train"]]
    assert sorted(r.numpy() for r in tf.data.TFRecordDataset(paths)) == sorted(records)
    assert sum(count_records(path) for path in paths) == 50


@pytest.mark.unit
def test_count_records_on_a_remote_file_system() -> None:
    writer_path = "acgmem://bucket/shards/x.tfrecord-00000-of-00001"
    from apache_beam.io.tfrecordio import _TFRecordUtil

    with memfs.MemoryFileSystem(None).create(writer_path, compression_type="uncompressed") as fh:
        for i in range(7):
            _TFRecordUtil.write_record(fh, b"x" * i)
    assert count_records(writer_path) == 7
    memfs.STORE["acgmem://bucket/shards/cut"] = b"\x01\x02"  # a header cut short
    with pytest.raises(ValueError, match="truncated"):
        count_records("acgmem://bucket/shards/cut")
