"""transforms: the image build's DoFns and its one pipeline under TestPipeline + assert_that."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from acg2vec.beam_pipelines.dead_letters import DEAD
from acg2vec.crawlers.items import Tag
from acg2vec.datasets.acg_illustrations.images import ImageRules
from acg2vec.datasets.acg_illustrations.records import ImageBuildConfig, ImageRecord, PostFilters
from acg2vec.datasets.acg_illustrations.transforms import BuildImageExamples, FilterPosts, decode_record
from acg2vec.datasets.acg_illustrations.vocabulary import VocabularyRules
from tests.beam_pipelines.image_fakes import (
    NOT_UTF8,
    image_bytes,
    local_test_pipeline,
    make_illust,
    make_post,
    save_file,
    write_shard,
    zoo_files,
)

pytestmark = pytest.mark.integration
CONFIG = ImageBuildConfig(
    size=64, filters=PostFilters(min_side=32, min_general_tags=3), vocabulary=VocabularyRules(min_images=2)
)


def test_filter_posts() -> None:
    posts = [
        make_post(1, "a" * 32, "files/aa/a.jpg"),
        make_post(2, "b" * 32, None),
        make_post(951, "c" * 32, "files/cc/c.jpg", rating="explicit"),
    ]
    config = ImageBuildConfig(size=64, filters=PostFilters(ratings=("general",), min_side=32, min_general_tags=3))
    with local_test_pipeline() as p:
        out = p | beam.Create(posts) | beam.ParDo(FilterPosts("/raw/safebooru", config)).with_outputs(DEAD, main="ok")
        assert_that(
            out.ok | beam.Map(lambda r: (r.id, r.split, r.file_path)),
            equal_to([(1, "train", "/raw/safebooru/files/aa/a.jpg")]),
            label="Kept",
        )
        assert_that(
            out[DEAD] | beam.Map(lambda d: (d["reason"], d["split"], d["record"]["id"])),
            equal_to([("no-file", "train", 2), ("rating-filtered", "test", 951)]),
            label="Dropped",
        )


def test_decode_images_dead_letters_the_zoo(tmp_path: Path) -> None:
    records, expected_dead, expected_ok = [], [], []
    for i, (name, (data, ext, reason)) in enumerate(sorted(zoo_files().items())):
        path = tmp_path / f"{name}.{ext}"
        if data is not None:
            path.write_bytes(data)
        records.append(ImageRecord(id=i, md5=name, file_path=str(path), split="train", rating="general"))
        (expected_ok if reason is None else expected_dead).append((name, reason) if reason else name)
    with local_test_pipeline() as p:
        out = (
            p
            | beam.Create(records)
            | beam.FlatMap(decode_record, ImageRules(size=64, max_pixels=4_000_000), "DecodeResize").with_outputs(
                DEAD, main="ok"
            )
        )
        assert_that(
            out.ok | beam.Map(lambda ri: (ri[0].md5, ri[1][:2])),
            equal_to([(n, b"\xff\xd8") for n in expected_ok]),
            label="Decoded",
        )
        assert_that(
            out[DEAD] | beam.Map(lambda d: (d["record"]["md5"], d["reason"])), equal_to(expected_dead), label="Dead"
        )
    assert len(expected_dead) >= 6 and len(expected_ok) >= 5


def _small_raw(tmp_path: Path) -> Path:
    """Four good posts (pixiv sources), a duplicate, a missing file, a bad line; pixiv items and a tag list."""
    raw = tmp_path / "raw"
    safebooru = raw / "safebooru"
    posts = []
    for i, post_id in enumerate([5, 1005, 2910, 3960]):
        md5, rel = save_file(safebooru, image_bytes((64, 48), (i * 50, 0, 0)))
        posts.append(make_post(post_id, md5, rel, source_url=f"https://www.pixiv.net/artworks/{700 + i}"))
    posts.append(make_post(4005, posts[0].md5, posts[0].file_path))  # duplicate of post 5
    posts.append(make_post(5005, "d" * 32, "files/dd/missing.jpg"))  # file not there
    write_shard(safebooru / "post-00000.jsonl.gz", posts, extra_lines=["not json", NOT_UTF8])
    write_shard(
        raw / "pixiv" / "illust-00000.jsonl.gz",
        [
            make_illust(700, views=10, fetched_at="2026-01-01T00:00:00+00:00"),
            make_illust(700, views=20, fetched_at="2026-02-01T00:00:00+00:00"),
            make_illust(703, views=None),
        ],
        extra_lines=["{}", NOT_UTF8],
    )
    write_shard(
        safebooru / "tag-00000.jsonl.gz",
        [
            Tag(source="safebooru", source_id="1", name="smile", category="meta"),
            Tag(source="safebooru", source_id="2", name="solo", category="odd"),
        ],
        extra_lines=["{", NOT_UTF8],
    )
    return raw


EXPECTED_DEAD = [
    ("Posts", "bad-json"),
    ("Posts", "undecodable-utf8"),
    ("Pixiv", "undecodable-utf8"),
    ("Tags", "undecodable-utf8"),
    ("DedupByMd5", "duplicate-md5"),
    ("DecodeResizeTrain", "file-missing"),
    ("Pixiv", "unknown-kind"),
    ("Tags", "bad-json"),
]
EXPECTED_OUTCOMES = [
    (("posts", "train", "written"), 2),
    (("posts", "validation", "written"), 1),
    (("posts", "test", "written"), 1),
    (("posts", "unknown", "bad-json"), 1),
    (("posts", "unknown", "undecodable-utf8"), 1),
    (("pixiv", "unknown", "undecodable-utf8"), 1),
    (("tags", "unknown", "undecodable-utf8"), 1),
    (("posts", "train", "duplicate-md5"), 1),
    (("posts", "train", "file-missing"), 1),
    (("pixiv", "unknown", "parsed"), 3),
    (("pixiv", "unknown", "unknown-kind"), 1),
    (("tags", "unknown", "parsed"), 2),
    (("tags", "unknown", "bad-json"), 1),
]


@pytest.mark.parametrize("num_buckets", [1, 5])
def test_build_image_examples_dedups_joins_pixiv_counts_and_dead_letters_every_family(
    tmp_path: Path, num_buckets: int
) -> None:
    raw = _small_raw(tmp_path)
    with local_test_pipeline() as p:
        out = p | BuildImageExamples(str(raw), CONFIG, str(tmp_path / "work"), num_buckets=num_buckets)
        assert_that(
            out.images["train"] | beam.Map(lambda ri: (ri[0].id, ri[0].pixiv_views)),
            equal_to([(5, 20), (1005, -1)]),
            label="Train",
        )
        assert_that(
            out.images["validation"] | beam.Map(lambda ri: (ri[0].id, ri[0].tags)),
            equal_to([(2910, ["1girl", "solo", "long_hair"])]),  # "smile" is meta in the tag list
            label="Validation",
        )
        assert_that(
            out.images["test"]
            | beam.Map(lambda ri: (ri[0].id, ri[0].pixiv_id, ri[0].pixiv_views, ri[0].pixiv_bookmarks)),
            equal_to([(3960, 703, -1, 100)]),
            label="Test",
        )
        dead = tuple(out.dead.values()) | "AllDead" >> beam.Flatten()
        assert_that(dead | beam.Map(lambda d: (d["step"], d["reason"])), equal_to(EXPECTED_DEAD), label="Dead")
        assert_that(out.outcome_counts | beam.CombinePerKey(sum), equal_to(EXPECTED_OUTCOMES), label="Outcomes")
        assert_that(
            out.vocabulary_csv | beam.Map(lambda text: text.splitlines()[:2]),
            equal_to([["tag_id,name,category,count", "0,1girl,general,2"]]),
            label="Vocabulary",
        )
