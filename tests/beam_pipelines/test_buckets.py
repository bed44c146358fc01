"""buckets: (bucket, line) pairs written with WriteBuckets and read back one bucket at a time."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest

from acg2vec.beam_pipelines.buckets import WriteBuckets, bucket_of, bucket_writers, read_bucket
from tests.beam_pipelines.image_fakes import local_test_pipeline


@pytest.mark.unit
def test_bucket_of_is_stable_across_processes() -> None:
    assert bucket_of("pixiv:42", 1000) == 646  # crc32, not Python's salted hash
    assert {bucket_of(f"k{i}", 4) for i in range(100)} == {0, 1, 2, 3}
    assert bucket_writers(7, local=True) == {"max_writers": 8} and bucket_writers(7, local=False) == {}


@pytest.mark.integration
def test_write_and_read_buckets_round_trip(tmp_path: Path) -> None:
    pairs = [(bucket_of(f"key{i}", 3), f'{{"i": {i}, "text": "銀魂"}}') for i in range(30)]
    with local_test_pipeline() as p:
        _ = p | beam.Create(pairs) | WriteBuckets(str(tmp_path / "b"), max_writers=4)
    for bucket in range(3):
        assert sorted(read_bucket(str(tmp_path / "b"), bucket)) == sorted(line for b, line in pairs if b == bucket)
    assert list(read_bucket(str(tmp_path / "never-written"), 0)) == []


@pytest.mark.unit
def test_auto_bucket_count_grows_with_the_input_between_its_bounds() -> None:
    from acg2vec.beam_pipelines.buckets import auto_bucket_count

    assert auto_bucket_count(0, 100, 4, 50) == 4
    assert auto_bucket_count(1001, 100, 4, 50) == 11  # one per started 100 bytes
    assert auto_bucket_count(10**9, 100, 4, 50) == 50
