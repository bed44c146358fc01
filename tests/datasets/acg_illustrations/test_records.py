"""records: per-element rules of the acg_illustrations build (filters, splits, pixiv ids, dedup, counts)."""

from __future__ import annotations

import pytest

from acg2vec.beam_pipelines.buckets import bucket_of
from acg2vec.datasets.acg_illustrations.records import (
    ImageBuildConfig,
    ImageRecord,
    PostDrop,
    PostFilters,
    SplitRules,
    dedup_records,
    expected_file_md5,
    latest_popularity,
    pixiv_id_from_url,
    pixiv_join_key,
    post_join_key,
    post_to_record,
    record_from_json,
    record_to_json,
    summarize_outcomes,
)
from acg2vec.errors import UserError
from tests.beam_pipelines.image_fakes import make_post

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.pixiv.net/artworks/81234567", 81234567),
        ("https://www.pixiv.net/en/artworks/123", 123),
        ("http://www.pixiv.net/member_illust.php?mode=medium&illust_id=4567", 4567),
        ("https://i.pximg.net/img-original/img/2020/01/01/00/00/00/7654321_p0.png", 7654321),
        ("https://twitter.com/someone/status/1", None),
        ("", None),
        (None, None),
    ],
)
def test_pixiv_id_from_url(url: str | None, expected: int | None) -> None:
    assert pixiv_id_from_url(url) == expected


def test_splits_by_id_mod_1000_with_holdout() -> None:
    rules = SplitRules()
    assert [rules.split_of(i) for i in (0, 899, 900, 949, 950, 999, 1000, 123_905)] == [
        "train", "train", "validation", "validation", "test", "test", "train", "validation",
    ]  # fmt: skip
    parsed = SplitRules.parse("train=0-800, validation=800-900,test=900-1000", holdout_from_id=5000)
    assert parsed.names == ["train", "validation", "test", "holdout"]
    assert parsed.split_of(4999) == "test" and parsed.split_of(5000) == "holdout"
    small = SplitRules.parse("train=0-8,validation=8-9,test=9-10", modulus=10)
    assert [small.split_of(i) for i in (1, 18, 29, 30)] == ["train", "validation", "test", "train"]
    with pytest.raises(UserError):
        SplitRules.parse("train=0-900,validation=900-950,test=950-1000", modulus=10)


@pytest.mark.parametrize(
    "text",
    ["train=0-900,test=950-1000", "train=0-900,test=800-1000", "train=0-1001", "train=zero-1000", "holdout=0-1000"],
)
def test_bad_split_ranges_are_user_errors(text: str) -> None:
    with pytest.raises(UserError):
        SplitRules.parse(text)


def _config(**filters) -> ImageBuildConfig:
    return ImageBuildConfig(size=64, filters=PostFilters(min_side=32, min_general_tags=3, **filters))


def test_post_to_record_keeps_categories_and_absolute_path() -> None:
    post = make_post(
        1905, "ABC" * 10 + "de", "files/ab/x.jpg", source_url="https://www.pixiv.net/artworks/99", score=None
    )
    record = post_to_record(post, raw_dir="gs://bucket/raw/safebooru", config=_config())
    assert record.file_path == "gs://bucket/raw/safebooru/files/ab/x.jpg"
    assert record.split == "validation" and record.md5 == post.md5.lower()
    assert record.tags == ["1girl", "solo", "smile", "long_hair"]
    assert record.characters == ["hatsune_miku"] and record.copyrights == ["vocaloid"] and record.artists == []
    assert record.pixiv_id == 99 and record.score == -1 and record.pixiv_views == -1
    assert record.file_md5 == post.md5.lower()  # the file must hash to the post's md5


def test_a_sample_rendition_file_is_not_held_to_the_originals_md5() -> None:
    base = "https://safebooru.example/images/1"
    original = make_post(7, "ab" * 16, "files/ab/x.png", file_url=f"{base}/x.png", sample_url=f"{base}/sample_x.jpg")
    sample = make_post(7, "ab" * 16, "files/ab/x.jpg", file_url=f"{base}/x.png", sample_url=f"{base}/sample_x.jpg")
    assert expected_file_md5(original) == "ab" * 16
    assert expected_file_md5(sample) is None  # re-encoded by the site: no published checksum (as the crawl decides)


@pytest.mark.parametrize(
    ("fields", "config", "reason"),
    [
        ({"file_path": None}, {}, "no-file"),
        ({"md5": None}, {}, "no-md5"),
        ({"rating": None}, {}, "unknown-rating"),
        ({"rating": "explicit"}, {"ratings": ("general",)}, "rating-filtered"),
        ({"status": "deleted"}, {}, "status-filtered"),
        ({"width": 20, "height": 600}, {}, "too-small"),
        ({"tags": ["1girl", "solo"]}, {}, "too-few-tags"),
        ({}, {"banned_tags": ("solo",)}, "banned-tag"),
    ],
)
def test_post_filters_name_their_reason(fields: dict, config: dict, reason: str) -> None:
    values = {"md5": "a" * 32, "file_path": "files/aa/a.jpg", **fields}
    post = make_post(7, values.pop("md5"), values.pop("file_path"), **values)
    with pytest.raises(PostDrop) as err:
        post_to_record(post, raw_dir="/raw/safebooru", config=_config(**config))
    assert err.value.reason == reason


def test_tag_list_categories_fill_what_the_post_lacks() -> None:
    post = make_post(7, "a" * 32, "files/aa/a.jpg", tags=["1girl", "solo", "smile", "absurdres", "artist_x", "miku"])
    post.tag_categories = {"miku": "character"}
    listed = {"absurdres": "meta", "artist_x": "artist", "miku": "copyright", "solo": "general"}
    record = post_to_record(post, raw_dir="/r", config=_config(), tag_categories=listed)
    assert record.tags == ["1girl", "solo", "smile"]  # meta tags are in no list; unknown ones are general
    assert record.artists == ["artist_x"] and record.characters == ["miku"] and record.copyrights == []


def test_post_without_status_or_size_is_kept() -> None:
    post = make_post(7, "a" * 32, "files/aa/a.jpg", status=None, width=None, height=None)
    assert post_to_record(post, raw_dir="/r", config=_config()).id == 7


def _record(post_id: int, md5: str, **fields) -> ImageRecord:
    return ImageRecord(id=post_id, md5=md5, file_path=f"/f/{post_id}.jpg", split="train", rating="general", **fields)


def test_dedup_records_keeps_the_lowest_id_per_md5_in_any_order() -> None:
    records = [_record(30, "a"), _record(7, "b"), _record(10, "a"), _record(20, "a"), _record(7, "b")]
    for order in (records, records[::-1]):
        kept, duplicates = dedup_records(order)
        assert [r.id for r in kept] == [7, 10]
        assert [(d.id, kept_id) for d, kept_id in duplicates] == [(7, 7), (20, 10), (30, 10)]


def test_bucket_records_round_trip_and_keys_are_stable() -> None:
    record = _record(5, "m" * 32, tags=["1girl", "é"], pixiv_id=42)
    assert record_from_json(record_to_json(record)) == record
    # The same key gives the same bucket in every process (a salted hash would not).
    assert bucket_of("pixiv:42", 1000) == 646 and bucket_of("m" * 32, 7) == bucket_of("m" * 32, 7)
    assert post_join_key(record) == pixiv_join_key(42) and post_join_key(_record(5, "m")) == "post:5"


def test_latest_popularity_keeps_the_newest_fetch() -> None:
    lines = ['[1, ["2026-01-01", 10, 1, 1, 2]]', '[1, ["2026-02-01", 20, 2, 2, 2]]', '[2, ["", -1, 5, -1, -1]]']
    assert latest_popularity(lines) == {1: ("2026-02-01", 20, 2, 2, 2), 2: ("", -1, 5, -1, -1)}
    assert latest_popularity(reversed(lines)) == latest_popularity(lines)


def test_outcomes_add_up() -> None:
    summary = summarize_outcomes(
        [
            (("posts", "train", "written"), 5),
            (("posts", "train", "no-file"), 2),
            (("posts", "test", "written"), 1),
            (("posts", "unknown", "bad-json"), 1),
            (("pixiv", "unknown", "parsed"), 3),
        ]
    )
    posts = summary["posts"]
    assert posts["read"] == 9 == posts["written"] + posts["dropped"]
    assert posts["by_reason"] == {"no-file": 2, "bad-json": 1}
    assert posts["by_split"]["train"] == {"written": 5, "no-file": 2}
    assert summary["pixiv"]["written"] == 3
