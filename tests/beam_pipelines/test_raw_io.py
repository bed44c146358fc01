"""raw_io: reading item shards in Beam, bad lines dead-lettered with their reason."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from acg2vec.beam_pipelines import raw_io
from tests.beam_pipelines.image_fakes import local_test_pipeline, make_illust, make_post, write_shard


@pytest.mark.unit
def test_shard_pattern_and_has_shards(tmp_path: Path) -> None:
    pattern = raw_io.shard_pattern(str(tmp_path / "raw" / "safebooru"), "post")
    assert pattern == str(tmp_path / "raw" / "safebooru" / "post-*.jsonl.gz")
    assert not raw_io.has_shards(pattern)  # the folder does not exist yet
    write_shard(tmp_path / "raw" / "safebooru" / "post-00000.jsonl.gz", [])
    assert raw_io.has_shards(pattern)


@pytest.mark.unit
def test_dead_letter_shape() -> None:
    record = raw_io.dead_letter("bad-json", b"\xff{", step="Posts", detail="x" * 900)
    assert record["reason"] == "bad-json" and record["step"] == "Posts"
    assert len(record["detail"]) == 500
    assert isinstance(record["record"], str)
    assert raw_io.dead_letter("r", {"a": object()}, step="s")["record"].startswith("{'a': <object")


@pytest.mark.integration
def test_read_items_validates_and_dead_letters(tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "safebooru"
    write_shard(raw / "post-00000.jsonl.gz", [make_post(1, "a" * 32, "files/aa/a.jpg"), make_post(2, None, None)])
    write_shard(
        raw / "post-00001.jsonl.gz",
        [make_illust(5)],  # a pixiv item in a post shard
        extra_lines=[
            "",  # blank: skipped, not an item
            '{"kind": "post", "id": 3',  # cut line
            json.dumps({"kind": "post", "id": 4, "source": "safebooru"}),  # no source_id
            json.dumps({"kind": "post", "id": "four", "source": "safebooru", "source_id": "4"}),
            "[1, 2]",
        ],
    )
    with local_test_pipeline() as p:
        out = p | raw_io.ReadItems(raw_io.shard_pattern(str(raw), "post"), kind="post", step="Posts")
        assert_that(out.items | beam.Map(lambda post: post.id), equal_to([1, 2]), label="Items")
        assert_that(
            out.dead | beam.Map(lambda d: (d["reason"], d["step"])),
            equal_to(
                [
                    ("wrong-kind", "Posts"),
                    ("bad-json", "Posts"),
                    ("missing-field", "Posts"),
                    ("wrong-type", "Posts"),
                    ("not-an-object", "Posts"),
                ]
            ),
            label="Dead",
        )


@pytest.mark.integration
def test_write_dead_letters_round_trip(tmp_path: Path) -> None:
    records = [raw_io.dead_letter("bad-json", "{", step="Posts"), raw_io.dead_letter("no-file", {"id": 7}, step="F")]
    with local_test_pipeline() as p:
        _ = p | beam.Create(records) | raw_io.WriteDeadLetters(str(tmp_path / "dead" / "images"))
    lines = []
    for shard in sorted((tmp_path / "dead").glob("images-*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as fh:
            lines += [json.loads(line) for line in fh]
    assert sorted(lines, key=lambda d: d["reason"]) == records


@pytest.mark.integration
def test_no_matching_shards_reads_nothing(tmp_path: Path) -> None:
    pattern = raw_io.shard_pattern(str(tmp_path / "raw" / "pixiv"), "illust")  # the folder does not exist
    with local_test_pipeline() as p:
        out = p | raw_io.ReadItems(pattern, kind="illust", step="Pixiv")
        assert_that(out.items, equal_to([]), label="Items")
        assert_that(out.dead, equal_to([]), label="Dead")
