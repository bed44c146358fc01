"""Each pair extractor on hand-made items, and the joins (title <-> character, summary <-> summary)."""

from __future__ import annotations

import random

import pytest

from acg2vec.crawlers.items import Character, Illust, Person, Section, TagTranslation, Work
from acg2vec.datasets.acg_text_pairs import pair_extractors

pytestmark = pytest.mark.unit


def _types(extracted: pair_extractors.Extracted) -> dict[str, tuple[str, str]]:
    return {p.pair_type: (p.anchor, p.positive) for p in extracted.pairs}


def test_bangumi_work() -> None:
    work = Work(source="bangumi", source_id="9", titles={"ja": "進撃の巨人", "zh-Hans": "进击的巨人"},
                summaries={"zh-Hans": "人类躲在高墙之内。"}, tags=["热血", "黑暗", "热血"], ids={"bangumi": "9"})  # fmt: skip
    out = pair_extractors.from_work(work)
    assert _types(out) == {
        "title_ja-title_zh": ("進撃の巨人", "进击的巨人"),
        "title_ja-summary": ("進撃の巨人", "人类躲在高墙之内。"),
        "title_zh-summary": ("进击的巨人", "人类躲在高墙之内。"),
        "title_zh-tags": ("进击的巨人", "热血 黑暗"),
    }
    assert {p.entity_id for p in out.pairs} == {"ja:進撃の巨人"}
    assert [(j.key, j.role, j.values) for j in out.joins] == [
        ("bangumi:work:9", "work", {"ja": "進撃の巨人", "zh": "进击的巨人"})
    ]


def test_animelist_work_shares_the_bangumi_entity_by_its_japanese_title() -> None:
    # Jikan items carry only their MAL id: the Japanese title is what joins them to Bangumi's work.
    work = Work(
        source="animelist",
        source_id="16498",
        titles={"ja": "進撃の巨人", "ja-Latn": "Shingeki no Kyojin", "en": "Attack on Titan"},
        ids={"mal": "16498"},
    )
    out = pair_extractors.from_work(work)
    assert _types(out) == {"title_ja-title_en": ("進撃の巨人", "Attack on Titan")}
    assert out.pairs[0].entity_id == "ja:進撃の巨人"
    no_ja = pair_extractors.from_work(
        Work(
            source="animelist",
            source_id="1",
            titles={"en": "Cowboy Bebop"},
            summaries={"en": "Space."},
            ids={"mal": "1"},
        )
    )
    assert {p.entity_id for p in no_ja.pairs} == {"mal:1"}
    shared_id = pair_extractors.from_work(
        Work(
            source="animelist",
            source_id="1",
            titles={"en": "X"},
            summaries={"en": "Y."},
            ids={"mal": "1", "bangumi": "5"},
        )
    )
    assert {p.entity_id for p in shared_id.pairs} == {"bangumi:5"}
    assert pair_extractors.work_entity("animelist", "7", {}, {}) == "animelist:7"


def test_wiki_work_tags_are_categories_and_give_no_tag_pairs() -> None:
    work = Work(
        source="wikipedia",
        source_id="zh:银魂",
        titles={"zh-Hans": "银魂", "ja": "銀魂"},
        tags=["日本漫画"],
        ids={"wiki:ja": "銀魂"},
    )
    out = pair_extractors.from_work(work)
    assert "title_zh-tags" not in _types(out)
    assert {p.entity_id for p in out.pairs} == {"ja:銀魂"}


def test_wiki_work_takes_its_page_entity_not_its_infobox_title() -> None:
    # No ja interlanguage link: the Japanese title comes from the infobox, which the page's sections cannot
    # see, so the Work keeps the page's entity (its intro pairs repeat the intro section's text).
    work = Work(
        source="moegirl",
        source_id="zh:凉宫春日的忧郁",
        titles={"zh-Hans": "凉宫春日的忧郁", "ja": "涼宮ハルヒの憂鬱"},
        summaries={"zh-Hans": "《凉宫春日的忧郁》是轻小说。"},
        ids={"moegirl": "凉宫春日的忧郁"},
    )
    intro = Section(source="moegirl", source_id="zh:凉宫春日的忧郁#0", title="凉宫春日的忧郁", language="zh",
                    text="《凉宫春日的忧郁》是轻小说。")  # fmt: skip
    assert {p.entity_id for p in pair_extractors.from_work(work).pairs} == {
        p.entity_id for p in pair_extractors.from_section(intro).pairs
    }
    assert {p.entity_id for p in pair_extractors.from_work(work).pairs} == {"moegirl:凉宫春日的忧郁"}
    work.ids["wiki:ja"] = "涼宮ハルヒの憂鬱"
    intro.langlinks["ja"] = "涼宮ハルヒの憂鬱"
    assert {p.entity_id for p in pair_extractors.from_work(work).pairs} == {"ja:涼宮ハルヒの憂鬱"}
    assert {p.entity_id for p in pair_extractors.from_section(intro).pairs} == {"ja:涼宮ハルヒの憂鬱"}


def test_work_without_texts_is_named() -> None:
    assert pair_extractors.from_work(Work(source="bangumi", source_id="1")).dropped == "work-without-texts"


def test_character_join_parts_and_resolution() -> None:
    work = pair_extractors.from_work(
        Work(source="bangumi", source_id="2", titles={"ja": "銀魂", "zh-Hans": "银魂"}, ids={"bangumi": "2"})
    )
    gintoki = pair_extractors.from_character(
        Character(
            source="bangumi", source_id="11", names={"ja": "坂田銀時", "zh-Hans": "坂田银时"}, work_ids=["2", "2"]
        )
    )
    kagura = pair_extractors.from_character(
        Character(source="bangumi", source_id="12", names={"ja": "神楽"}, work_ids=["2"])
    )
    assert [j.key for j in gintoki.joins] == ["bangumi:work:2"]  # duplicated work ids give one part
    parts = work.joins + gintoki.joins + kagura.joins
    pairs, unmatched = pair_extractors.resolve_join(parts)
    assert unmatched == []
    got = sorted((p.pair_type, p.anchor, p.positive, p.entity_id) for p in pairs)
    assert got == [
        ("title_ja-character", "銀魂", "坂田銀時", "ja:銀魂"),
        ("title_ja-character", "銀魂", "神楽", "ja:銀魂"),
        ("title_zh-character", "银魂", "坂田银时", "ja:銀魂"),
        ("title_zh-character", "银魂", "神楽", "ja:銀魂"),  # no Chinese name: the Japanese one
    ]
    shuffled = list(parts)
    random.Random(1).shuffle(shuffled)
    assert pair_extractors.resolve_join(shuffled)[0] == pairs  # order of arrival does not matter


def test_character_without_work() -> None:
    lonely = pair_extractors.from_character(
        Character(source="bangumi", source_id="1", names={"ja": "名無し"}, work_ids=["404"])
    )
    pairs, unmatched = pair_extractors.resolve_join(lonely.joins)
    assert pairs == [] and [u.record_id for u in unmatched] == ["1"]
    assert (
        pair_extractors.from_character(Character(source="bangumi", source_id="2", names={"ja": "名無し"})).dropped
        == "character-without-work"
    )
    assert (
        pair_extractors.from_character(Character(source="bangumi", source_id="3", work_ids=["1"])).dropped
        == "character-without-name"
    )


def test_voice_actor() -> None:
    out = pair_extractors.from_person(
        Person(source="bangumi", source_id="7", names={"ja": "平野綾", "zh-Hans": "平野绫"})
    )
    assert _types(out) == {"va_name_ja-va_name_zh": ("平野綾", "平野绫")}
    assert out.pairs[0].entity_id == "ja:平野綾"  # the same as the Japanese Wikipedia page about her
    assert (
        pair_extractors.from_person(Person(source="animelist", source_id="1", names={"en": "Aya Hirano"})).dropped
        == "person-without-ja-zh-names"
    )


def test_pixiv_tag_translation() -> None:
    out = pair_extractors.from_tag_translation(
        TagTranslation(
            source="pixiv", source_id="艦これ", tag="艦これ", translations={"zh": "舰队Collection", "en": "KanColle"}
        )
    )
    assert _types(out) == {"tag_ja-tag_zh": ("艦これ", "舰队Collection")}
    assert out.pairs[0].entity_id == "ja:艦これ"  # a tag that names a work shares the work's entity
    tw = pair_extractors.from_tag_translation(
        TagTranslation(source="pixiv", source_id="x", tag="風景", translations={"zh_tw": "風景畫"})
    )
    assert tw.pairs[0].positive == "風景畫"
    assert (
        pair_extractors.from_tag_translation(
            TagTranslation(source="pixiv", source_id="y", tag="ネロ", translations={"en": "Nero"})
        ).dropped
        == "tag-without-zh"
    )


def _section(**kwargs) -> Section:
    base = {
        "source": "wikipedia",
        "source_id": "x",
        "title": "銀魂",
        "language": "ja",
        "text": "『銀魂』は空知英秋の漫画。",
    }
    base.update(kwargs)
    return Section(**base)


def test_wikipedia_intro() -> None:
    out = pair_extractors.from_section(_section(langlinks={"zh": "银魂", "en": "Gintama"}))
    assert _types(out) == {
        "title_ja-summary": ("銀魂", "『銀魂』は空知英秋の漫画。"),
        "title_ja-title_zh": ("銀魂", "银魂"),
        "title_ja-title_en": ("銀魂", "Gintama"),
    }
    assert [(j.role, j.key, j.values) for j in out.joins] == [
        ("intro", "wikipedia:ja:銀魂", {"ja": "『銀魂』は空知英秋の漫画。"})
    ]
    assert {p.entity_id for p in out.pairs} == {"ja:銀魂"}
    # The Chinese article of the same subject shares the entity through its langlink.
    zh = pair_extractors.from_section(
        _section(title="银魂", language="zh", text="《银魂》是漫画。", langlinks={"ja": "銀魂"})
    )
    assert {p.entity_id for p in zh.pairs} == {"ja:銀魂"}
    pairs, _ = pair_extractors.resolve_join(out.joins + zh.joins)
    assert [(p.pair_type, p.anchor, p.positive, p.anchor_decl, p.positive_decl) for p in pairs] == [
        ("summary-summary", "『銀魂』は空知英秋の漫画。", "《银魂》是漫画。", "ja", "zh")
    ]


def test_wikipedia_title_qualifier_is_dropped_from_title_pairs() -> None:
    out = pair_extractors.from_section(
        _section(
            title="Gintama (anime)", language="en", text="Gintama is an anime.", langlinks={"ja": "銀魂 (アニメ)"}
        )
    )
    assert _types(out)["title_ja-title_en"] == ("銀魂", "Gintama")


def test_wikipedia_and_moegirl_sections() -> None:
    wiki = pair_extractors.from_section(_section(heading_path=["あらすじ", "第一部"], text="物語は江戸から始まる。"))
    assert _types(wiki) == {"heading-section": ("あらすじ / 第一部", "物語は江戸から始まる。")}
    moe = pair_extractors.from_section(
        Section(
            source="moegirl",
            source_id="m",
            title="凉宫春日",
            language="zh-Hans",
            heading_path=["人物经历"],
            text="创立了SOS团。",
        )
    )
    assert _types(moe) == {"title_heading-section": ("凉宫春日 人物经历", "创立了SOS团。")}
    assert moe.pairs[0].entity_id == "moegirl:凉宫春日"  # no Japanese title known: the page itself
    moe_intro = pair_extractors.from_section(
        Section(source="moegirl", source_id="m0", title="凉宫春日", language="zh-Hans", text="SOS团团长。")
    )
    assert _types(moe_intro) == {"title_zh-summary": ("凉宫春日", "SOS团团长。")}
    assert moe_intro.joins == []  # intros are joined across Wikipedia editions only


@pytest.mark.parametrize(
    ("section", "reason"),
    [
        (_section(title="Talk:Gintama", language="en"), "boilerplate-page"),
        (_section(title="ノート:銀魂"), "boilerplate-page"),
        (_section(title="Mercury (disambiguation)", language="en"), "disambiguation-page"),
        (_section(categories=["曖昧さ回避"]), "disambiguation-page"),
        (_section(heading_path=["外部リンク"]), "boilerplate-section"),
    ],
)
def test_boilerplate_sections_are_named_drops(section: Section, reason: str) -> None:
    out = pair_extractors.from_section(section)
    assert out.pairs == [] and out.dropped == reason


def test_other_kinds_give_nothing() -> None:
    assert pair_extractors.extract(Illust(source="pixiv", source_id="1", id=1)).dropped == "unused-kind"


# -- the cross-source entity -----------------------------------------------------------------------------------


def test_ja_entity_keys_kana_free_titles_and_folds_width_and_qualifiers() -> None:
    # Kana-free Japanese titles are keys like any other; the simplified Chinese form is a different title.
    assert (
        pair_extractors.ja_entity("銀魂") == "ja:銀魂" and pair_extractors.ja_entity("攻殻機動隊") == "ja:攻殻機動隊"
    )
    assert pair_extractors.ja_entity("银魂") != pair_extractors.ja_entity("銀魂")
    # NFKC: half-width katakana, full-width Latin and full-width spaces fold into one key.
    assert pair_extractors.ja_entity("ｶｳﾎﾞｰｲﾋﾞﾊﾞｯﾌﾟ") == pair_extractors.ja_entity("カウボーイビバップ")
    assert (
        pair_extractors.ja_entity("ＧＵＮＤＡＭ\u3000ＳＥＥＤ")
        == pair_extractors.ja_entity("Gundam Seed")
        == "ja:gundamseed"
    )
    # The disambiguation qualifier of a wiki title goes, in either bracket width.
    assert (
        pair_extractors.ja_entity("銀魂 (アニメ)")
        == pair_extractors.ja_entity("銀魂（アニメ）")
        == pair_extractors.ja_entity(" 銀魂 ")
        == "ja:銀魂"
    )
    assert pair_extractors.ja_entity("(仮)") == "ja:(仮)"  # nothing left without the brackets: kept whole
    # Combining marks are never folded away.
    assert pair_extractors.ja_entity("ガンダム") != pair_extractors.ja_entity("カンタム")
    assert (
        pair_extractors.ja_entity("") is None
        and pair_extractors.ja_entity(" \u200b") is None
        and pair_extractors.ja_entity(None) is None
    )


def test_wiki_entity_uses_the_japanese_title_own_or_linked() -> None:
    assert pair_extractors.wiki_entity("wikipedia", "ja", "銀魂 (アニメ)", {"en": "Gintama"}) == "ja:銀魂"
    assert pair_extractors.wiki_entity("wikipedia", "zh", "银魂 (动画)", {"ja": "銀魂 (アニメ)"}) == "ja:銀魂"
    assert pair_extractors.wiki_entity("wikipedia", "en", "Gintama", {"ja": "銀魂"}) == "ja:銀魂"
    assert pair_extractors.wiki_entity("moegirl", "zh-Hans", "银魂", {"ja": "銀魂"}) == "ja:銀魂"
    # No Japanese title: the English article, else the page; moegirl its page.
    assert pair_extractors.wiki_entity("wikipedia", "zh", "某作品", {"en": "Some Work"}) == "wikipedia:en:Some Work"
    assert pair_extractors.wiki_entity("wikipedia", "zh", "某作品", {}) == "wikipedia:zh:某作品"
    assert pair_extractors.wiki_entity("moegirl", "zh-Hans", "某作品", {"en": "Some Work"}) == "moegirl:某作品"


def test_pages_sharing_a_title_key_keep_their_intros_apart() -> None:
    manga = pair_extractors.from_section(_section(title="銀魂", text="『銀魂』は漫画。"))
    anime = pair_extractors.from_section(_section(title="銀魂 (アニメ)", text="『銀魂』はアニメ。"))
    zh_anime = pair_extractors.from_section(_section(title="银魂 (动画)", language="zh", text="《银魂》是动画。",
                                        langlinks={"ja": "銀魂 (アニメ)"}))  # fmt: skip
    assert {p.entity_id for p in manga.pairs + anime.pairs + zh_anime.pairs} == {"ja:銀魂"}
    groups: dict[str, list[pair_extractors.JoinPart]] = {}
    for part in manga.joins + anime.joins + zh_anime.joins:
        groups.setdefault(part.key, []).append(part)
    pairs = [p for parts in groups.values() for p in pair_extractors.resolve_join(parts)[0]]
    assert [(p.anchor, p.positive) for p in pairs] == [("『銀魂』はアニメ。", "《银魂》是动画。")]
