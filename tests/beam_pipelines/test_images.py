"""images: per-element rules (filters, splits, pixiv ids, dedup, vocabulary) and the image decoding zoo."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from acg2vec.beam_pipelines.image_decode import ImageDrop, ImageRules, decode_resize_encode, process_file
from acg2vec.beam_pipelines.images import (
    ImageBuildConfig,
    ImageRecord,
    KeepLowestId,
    PostDrop,
    PostFilters,
    SplitRules,
    dedup_records,
    duplicate_ids,
    latest_popularity,
    pixiv_id_from_url,
    pixiv_join_key,
    post_join_key,
    post_to_record,
    record_from_json,
    record_to_json,
    summarize_outcomes,
)
from acg2vec.beam_pipelines.raw_io import bucket_of
from acg2vec.beam_pipelines.vocabulary import (
    SelectedTag,
    VocabularyRules,
    choose_vocabulary,
    csv_sha256,
    read_vocabulary_csv,
    vocabulary_csv,
)
from acg2vec.errors import UserError
from tests.beam_pipelines.image_fakes import make_post, noisy_jpeg, zoo_files

pytestmark = pytest.mark.unit
RULES = ImageRules(size=64, max_pixels=4_000_000)


def decode(data: bytes, rules: ImageRules = RULES) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(decode_resize_encode(data, rules))))


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


def test_keep_lowest_id_combines_in_any_order() -> None:
    fn = KeepLowestId()
    left = fn.add_input(fn.add_input(fn.create_accumulator(), 30), 10)
    right = fn.add_input(fn.create_accumulator(), 20)
    merged = fn.extract_output(fn.merge_accumulators([right, left, fn.create_accumulator()]))
    assert merged[0] == 10 and sorted(merged[1]) == [20, 30]
    assert sorted(duplicate_ids(("md5", merged))) == [(20, 10), (30, 10)]


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


def test_vocabulary_rules_min_count_caps_and_order() -> None:
    counts = [
        (("general", "solo"), 50),
        (("general", "smile"), 50),
        (("general", "hat"), 40),
        (("general", "rare"), 2),
        (("character", "miku"), 30),
        (("character", "rin"), 25),
        (("copyright", "vocaloid"), 45),
        (("artist", "someone"), 90),
        (("meta", "highres"), 99),
    ]
    rules = VocabularyRules(min_images=10, caps={"general": 2, "character": 5, "copyright": 5, "artist": 0})
    tags = choose_vocabulary(counts, rules)
    assert [(t.tag_id, t.name, t.category, t.count) for t in tags] == [
        (0, "smile", "general", 50),
        (1, "solo", "general", 50),
        (2, "miku", "character", 30),
        (3, "rin", "character", 25),
        (4, "vocaloid", "copyright", 45),
    ]
    text = vocabulary_csv(tags)
    assert text.splitlines()[:2] == ["tag_id,name,category,count", "0,smile,general,50"]
    assert read_vocabulary_csv(text) == tags
    assert csv_sha256(text) != csv_sha256(vocabulary_csv(tags[:1]))
    assert read_vocabulary_csv(vocabulary_csv([SelectedTag(0, 'a,"b"', "general", 1)]))[0].name == 'a,"b"'


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


def test_resize_pads_to_a_white_square() -> None:
    pixels = decode(noisy_jpeg((128, 32)), ImageRules(size=64))
    assert pixels.shape == (64, 64, 3)
    assert pixels[:4].min() > 240 and pixels[-4:].min() > 240  # padding above and below
    assert pixels[28:36].mean() < 200 and pixels[28:36].std() > 10  # the picture in the middle


def test_large_jpeg_uses_draft_and_keeps_size() -> None:
    out = io.BytesIO()
    Image.new("RGB", (1600, 1200), (10, 200, 10)).save(out, "JPEG")
    pixels = decode(out.getvalue(), ImageRules(size=64))
    assert pixels.shape == (64, 64, 3)
    assert abs(int(pixels[32, 32, 1]) - 200) < 8


@pytest.mark.parametrize("name", list(zoo_files()))
def test_bad_file_zoo(name: str, tmp_path: Path) -> None:
    data, ext, reason = zoo_files()[name]
    path = tmp_path / f"file.{ext}"
    if data is not None:
        path.write_bytes(data)
    if reason is None:
        pixels = np.asarray(Image.open(io.BytesIO(process_file(str(path), RULES))))
        assert pixels.shape == (64, 64, 3)
        return
    with pytest.raises(ImageDrop) as err:
        process_file(str(path), RULES)
    assert err.value.reason == reason


def test_odd_files_decode_to_what_they_show() -> None:
    zoo = zoo_files()
    cmyk = decode(zoo["cmyk-jpeg"][0])
    assert cmyk[32, 32, 0] > 200 and cmyk[32, 32, 1] < 60  # red, not inverted or grey
    grey = decode(zoo["png-16-bit"][0])
    assert 120 <= grey[32, 32, 0] <= 136  # 32768 of 65535 scaled, not clipped to white
    palette = decode(zoo["palette-transparency"][0])
    assert palette[32, 5].min() > 240  # transparent half composited on white
    assert palette[32, 58, 2] > 200 and palette[32, 58, 0] < 60  # opaque half blue
    gif = decode(zoo["animated-gif"][0])
    assert gif[32, 32, 0] > 200 and gif[32, 32, 2] < 60  # first frame (red)


def test_min_side_checked_on_the_decoded_image() -> None:
    with pytest.raises(ImageDrop) as err:
        decode_resize_encode(noisy_jpeg((100, 20)), ImageRules(size=64, min_side=32))
    assert err.value.reason == "image-too-small"
