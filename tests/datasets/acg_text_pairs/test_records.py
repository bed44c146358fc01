"""rows: cleaning a raw pair, bad lines named and dead-lettered, de-duplication, split by entity, serializer."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from acg2vec.crawlers.items import Work, item_to_dict
from acg2vec.datasets.acg_text_pairs import records as text_records
from acg2vec.datasets.acg_text_pairs import schema
from acg2vec.datasets.acg_text_pairs.pair_extractors import RawPair
from acg2vec.datasets.acg_text_pairs.schema import PAIR_TYPES

CONFIG = text_records.TextPairsConfig()


def _pair(anchor: str, positive: str, pair_type: str = "title_ja-summary") -> RawPair:
    return RawPair(anchor, positive, pair_type, "bangumi", "bangumi:1", "ja", "zh-Hans")


# -- cleaning and bad input (unit) ---------------------------------------------------------------------------


@pytest.mark.unit
def test_clean_pair_normalises_and_tags() -> None:
    row, reason = text_records.clean_pair(_pair(" ｶﾞﾝﾀﾞﾑ\n", "宇宙世纪0079年，  吉翁公国向地球联邦宣战。"), CONFIG)
    assert reason == ""
    assert row == (
        "ガンダム",
        "宇宙世纪0079年, 吉翁公国向地球联邦宣战。",
        "title_ja-summary",
        "bangumi",
        "bangumi:1",
        "ja",
        "zh",
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    ("pair", "reason"),
    [
        (_pair("", "一段足够长的简介文字在这里。"), "anchor-empty-text"),
        (_pair("銀魂", "\u200b \n"), "positive-empty-text"),
        (_pair("銀魂", "太短"), "positive-too-short"),
        (_pair("銀" * 201, "一段足够长的简介文字在这里。"), "anchor-too-long"),
        (_pair("銀魂", "x" * 100_001), "huge-text"),
        (_pair("Gintama", "GINTAMA", "title_ja-title_en"), "same-sides"),
        (_pair("銀魂", "{{Infobox|a=b}}<ref>x</ref>"), "positive-empty-text"),
    ],
)
def test_clean_pair_drops_are_named(pair: RawPair, reason: str) -> None:
    assert text_records.clean_pair(pair, CONFIG) == (None, reason)


@pytest.mark.unit
def test_long_texts_are_cut_and_bounds_configurable() -> None:
    long = "这是一句话。" * 400
    row, _ = text_records.clean_pair(_pair("銀魂", long), CONFIG)
    assert row is not None and len(row[1]) <= 1000 and row[1].endswith("。")
    strict = text_records.TextPairsConfig(pair_type_bounds={"title_ja-summary": ((3, 10), (10, 1000))})
    assert text_records.clean_pair(_pair("銀魂", long), strict) == (None, "anchor-too-short")
    # The override is for its pair type only: the same pair under another type keeps the side-kind defaults.
    assert text_records.clean_pair(_pair("銀魂", long, "title_zh-summary"), strict)[0] is not None
    # Without overrides every pair type is bounded by its two side kinds.
    for pair_type, (anchor_kind, positive_kind) in PAIR_TYPES.items():
        expected = (text_records.DEFAULT_SIDE_BOUNDS[anchor_kind], text_records.DEFAULT_SIDE_BOUNDS[positive_kind])
        assert CONFIG.bounds(pair_type) == expected, pair_type
        assert strict.bounds(pair_type) == (((3, 10), (10, 1000)) if pair_type == "title_ja-summary" else expected)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"kind": "work", "source": "bangumi", "titles": {"ja": "途中', "Lines-malformed-json"),
        (b"\xff\xfe not utf-8", "Lines-malformed-json"),
        ("[1, 2, 3]", "Lines-not-an-object"),
        ('{"kind": "spaceship", "source": "x", "source_id": "1"}', "Lines-unknown-kind"),
        ('{"kind": "work", "source": "bangumi"}', "Lines-missing-field"),
        ('{"kind": "work", "source": "bangumi", "source_id": "1", "titles": ["a"]}', "Lines-wrong-type"),
        ('{"kind": "work", "source": "bangumi", "source_id": "1", "titles": {"ja": 5}}', "Lines-wrong-type"),
        ('{"kind": "work", "source": "bangumi", "source_id": "1", "titles": {"ja": ""}}', "Items-work-without-texts"),
    ],
)
def test_bad_lines_are_named_and_dead_lettered(line: str | bytes, reason: str) -> None:
    result = text_records.process_line(line, CONFIG)
    assert result.rows == []
    assert [r for r, _ in result.drops] == [reason]
    dead = result.drops[0][1]
    assert dead["reason"] == reason.split("-", 1)[1] and dead["record"] is not None
    assert dead["step"] == reason.split("-", 1)[0]


@pytest.mark.unit
def test_huge_text_line() -> None:
    work = Work(
        source="bangumi",
        source_id="1",
        titles={"ja": "銀魂", "zh-Hans": "银魂"},
        summaries={"zh-Hans": "长" * 200_000},
    )
    result = text_records.process_line(json.dumps(item_to_dict(work), ensure_ascii=False), CONFIG)
    assert [r[2] for r in result.rows] == ["title_ja-title_zh"]
    assert sorted(r for r, _ in result.drops) == ["Pairs-huge-text", "Pairs-huge-text"]
    assert result.candidates == 3


@pytest.mark.unit
def test_finalize_dedups_keeps_a_stable_copy_and_splits_by_entity() -> None:
    a = ("銀魂", "银魂", "title_ja-title_zh", "wikipedia", "wikipedia:ja:銀魂", "ja", "zh")
    b = ("銀魂", "银魂", "title_ja-title_zh", "bangumi", "bangumi:2", "ja", "zh")
    c = ("銀魂 ", "银魂", "title_ja-title_zh", "bangumi", "bangumi:2", "ja", "zh")  # same key after casefold/space
    summary = "在被外星人占领的江户，万事屋的坂田银时和伙伴们接下各种委托，过着吵吵闹闹的日子。"
    d = ("银魂", summary, "title_zh-summary", "bangumi", "bangumi:2", "zh", "zh")
    e = ("银魂", summary.replace("各种", "各类"), "title_zh-summary", "moegirl", "moegirl:银魂", "zh", "zh")
    for order in ([a, b, c, d, e], [e, d, c, b, a]):
        result = text_records.finalize_rows(order, CONFIG)
        kept = [row for rows in result.rows.values() for row in rows]
        assert sorted(kept) == sorted([b, d])  # bangumi outranks wikipedia; the moegirl summary is a near-duplicate
        assert Counter(r for r, _ in result.drops) == {"Dedup-duplicate": 2, "Dedup-near-duplicate": 1}
        assert all(row in result.rows[text_records.split_of(row[4])] for row in kept)
    no_near = text_records.finalize_rows([d, e], text_records.TextPairsConfig(near_dup=False))
    assert sum(len(v) for v in no_near.rows.values()) == 2


@pytest.mark.unit
def test_split_is_stable_and_roughly_proportional() -> None:
    splits = Counter(text_records.split_of(f"bangumi:{i}") for i in range(5000))
    assert 0.77 < splits["train"] / 5000 < 0.83 and 0.08 < splits["validation"] / 5000 < 0.12
    assert text_records.split_of("bangumi:1") == text_records.split_of("bangumi:1")


@pytest.mark.unit
def test_example_serializer_matches_the_tfds_features() -> None:
    from acg2vec.datasets.acg_text_pairs.acg_text_pairs_dataset_builder import make_features

    row = ("機動戦士ガンダム", "机动战士高达", "title_ja-title_zh", "bangumi", "bangumi:1", "ja", "zh")
    features = make_features()
    import tensorflow as tf

    ours = text_records.example_serializer()(row)
    theirs = features.serialize_example(dict(zip(schema.COLUMNS, row, strict=True)))
    assert tf.train.Example.FromString(ours) == tf.train.Example.FromString(theirs)  # same message, map order aside
    decoded = features.deserialize_example_np(ours)
    assert tuple(decoded[c].decode("utf-8") for c in schema.COLUMNS) == row
