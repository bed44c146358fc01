"""raw_io: reading item shards in Beam line by line, bad lines (bad bytes too) dead-lettered with their reason."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from acg2vec.beam_pipelines import raw_io
from tests.beam_pipelines.image_fakes import NOT_UTF8, local_test_pipeline, make_illust, make_post, write_shard


@pytest.mark.unit
def test_shard_pattern_and_has_shards(tmp_path: Path) -> None:
    pattern = raw_io.shard_pattern(str(tmp_path / "raw" / "safebooru"), "post")
    assert pattern == str(tmp_path / "raw" / "safebooru" / "post-*.jsonl.gz")
    assert not raw_io.has_shards(pattern)  # the folder does not exist yet
    write_shard(tmp_path / "raw" / "safebooru" / "post-00000.jsonl.gz", [])
    assert raw_io.has_shards(pattern)


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
            NOT_UTF8,  # one bad byte: this line is dropped, the rest of the shard is read
            json.dumps({"kind": "post", "id": 6, "source": "safebooru", "source_id": "6"}),
        ],
    )
    with local_test_pipeline() as p:
        out = p | raw_io.ReadItems(raw_io.shard_pattern(str(raw), "post"), kind="post", step="Posts")
        assert_that(out.items | beam.Map(lambda post: post.id), equal_to([1, 2, 6]), label="Items")
        assert_that(
            out.dead | beam.Map(lambda d: (d["reason"], d["step"])),
            equal_to(
                [
                    ("wrong-kind", "Posts"),
                    ("bad-json", "Posts"),
                    ("missing-field", "Posts"),
                    ("wrong-type", "Posts"),
                    ("not-an-object", "Posts"),
                    ("undecodable-utf8", "Posts"),
                ]
            ),
            label="Dead",
        )


@pytest.mark.integration
def test_no_matching_shards_reads_nothing(tmp_path: Path) -> None:
    pattern = raw_io.shard_pattern(str(tmp_path / "raw" / "pixiv"), "illust")  # the folder does not exist
    with local_test_pipeline() as p:
        out = p | raw_io.ReadItems(pattern, kind="illust", step="Pixiv")
        assert_that(out.items, equal_to([]), label="Items")
        assert_that(out.dead, equal_to([]), label="Dead")


@pytest.mark.unit
def test_read_lines_outside_beam_drops_undecodable_lines(tmp_path: Path) -> None:
    path = write_shard(tmp_path / "work-00000.jsonl.gz", [], extra_lines=['{"a": 1}', "", NOT_UTF8, '{"b": "é"}'])
    drops = []
    lines = list(raw_io.read_lines(str(path), "Lines", lambda *drop: drops.append(drop)))
    assert lines == ['{"a": 1}', '{"b": "é"}']
    assert [(reason, raw) for reason, raw, _ in drops] == [("undecodable-utf8", NOT_UTF8 + b"\n")]
    assert "0xe9" in drops[0][2]
