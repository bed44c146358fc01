"""Conformance: items parsed from the real site captures (../shared/fixtures/real) go through the text build."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from acg2vec.beam_pipelines import text_normalize as tn
from acg2vec.beam_pipelines import texts
from acg2vec.crawlers.items import Item, item_to_dict
from acg2vec.crawlers.pixiv import illust_from_ajax
from acg2vec.crawlers.spiders.animelist import character_from_jikan, person_from_jikan, work_from_anime
from acg2vec.crawlers.spiders.bangumi import character_from, person_from, related_ids, work_from_subject
from acg2vec.crawlers.spiders.mediawiki import ParsedPage, read_parse_response
from acg2vec.crawlers.spiders.moegirl import MoegirlSpider
from acg2vec.crawlers.spiders.wikipedia import WikipediaSpider

pytestmark = pytest.mark.integration


def _load(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def _items(real: Path) -> dict[tuple[str, str], list[Item]]:
    """Items from the captures, each made by the crawler's own parser for that format."""
    out: dict[tuple[str, str], list[Item]] = {}

    def add(item: Item) -> None:
        out.setdefault((item.source, item.kind), []).append(item)

    subject = _load(real / "bangumi" / "v0_example_SubjectDetail.json")
    related = _load(real / "bangumi" / "v0_example_RelatedCharacter.json")
    add(work_from_subject(subject, url=None, character_ids=related_ids(related)))
    for character in related:
        add(character_from(character, url=None, work_ids=[subject["id"]]))
    add(person_from(_load(real / "bangumi" / "v0_example_PersonDetail.json"), url=None))

    # Jikan: one anime in full, the anime of a search page and a top page, a character, a person.
    jikan = real / "jikan"
    add(work_from_anime(_load(jikan / "anime-success.json")["body"]["data"]))
    for listing in ("search-success.json", "top-success.json"):
        for anime in _load(jikan / listing)["body"]["data"]:
            add(work_from_anime(anime))
    add(character_from_jikan(_load(jikan / "character-success.json")["body"]["data"]))
    add(person_from_jikan(_load(jikan / "person-success.json")["body"]["data"]))

    # MediaWiki action=parse: the English Wikipedia spider turns the page into its items.
    page = read_parse_response(_load(real / "mediawiki" / "wptools_parse.json")["response"])
    for item in WikipediaSpider(lang="en").page_items(page):
        add(item)

    # moegirl: the capture holds a page's 人物信息 infobox wikitext; the moegirl spider reads it as that page.
    moegirl = _load(real / "moegirl" / "moegirl_dataset_readme_sample.json")
    for name, raw in moegirl["extra_info_raw_wikitext"].items():
        parsed = ParsedPage(title=name, page_id=None, wikitext=raw[0], langlinks={}, categories=[], properties={})
        for item in MoegirlSpider().page_items(parsed):
            add(item)

    # pixiv AJAX /ajax/illust/{id} bodies: the importer's tag translations (illusts are not read by this build).
    for capture in sorted((real / "pixiv").glob("test-image-info*.json")):
        _, translations = illust_from_ajax(_load(capture)["body"])
        for translation in translations:
            add(translation)
    return out


def test_real_captures_through_the_build(shared_fixtures: Path, tmp_path: Path) -> None:
    items = _items(shared_fixtures)
    raw = tmp_path / "raw"
    for (source, kind), group in items.items():
        path = raw / source / f"{kind}-00000.jsonl.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for item in group:
                fh.write(json.dumps(item_to_dict(item), ensure_ascii=False) + "\n")
    report = texts.build_text_pairs(str(raw), str(tmp_path / "datasets"), mode="in_memory", workers=1)
    balance = texts.accounting(report.counters)
    assert balance["lines_add_up"] and balance["pairs_add_up"]
    assert balance["lines_read"] == sum(len(g) for g in items.values()) and balance["lines_dropped"] == 0

    rows = [r for split_rows in texts.rows_in_memory(str(raw)).values() for r in split_rows]
    by_type = {}
    for row in rows:
        by_type.setdefault(row[2], []).append(row)
    # Bangumi: ノーゲーム・ノーライフ with its Chinese title, summary, tags and its characters.
    assert ("ノーゲーム・ノーライフ", "NO GAME NO LIFE 游戏人生") in {
        (r[0], r[1]) for r in by_type["title_ja-title_zh"]
    }
    assert {r[0] for r in by_type["title_ja-character"]} == {"ノーゲーム・ノーライフ"}
    assert len(by_type["title_ja-character"]) == len({c.names.get("ja") for c in items[("bangumi", "character")]})
    assert by_type["title_zh-summary"][0][1].startswith("“听说游戏玩家兄妹要征服幻想世界”")
    assert "\r" not in by_type["title_zh-summary"][0][1]
    assert all(r[6] == "zh" for r in by_type["title_zh-summary"])
    # Jikan: the Japanese and English titles of Mushishi, under the entity of its Japanese title.
    assert ("蟲師", "Mushi-Shi", "ja:蟲師") in {(r[0], r[1], r[4]) for r in by_type["title_ja-title_en"]}
    jikan_works = items[("animelist", "work")]
    assert {r[4] for r in rows if r[3] == "animelist"} == {f"ja:{tn.title_key(w.titles['ja'])}" for w in jikan_works}
    # The Jikan character and person captures are the short forms (no anime, no Chinese name): named drops.
    assert report.counters["item/character-without-work"] >= 1
    assert report.counters["item/person-without-ja-zh-names"] >= 1
    # Wikipedia: the Douglas Adams page's sections, markup stripped.
    sections = by_type["heading-section"]
    assert any(r[0] == "Early life / Education" for r in sections)
    assert all("{{" not in r[1] and "<ref" not in r[1] and "[[" not in r[1] for r in sections)
    assert all(r[5] == r[6] == "en" for r in sections)
    assert {r[4] for r in rows if r[3] == "wikipedia"} == {"wikipedia:en:Douglas Adams"}  # no ja langlink captured
    # moegirl: the infobox-only page gives no section (all markup), and a Character with its Japanese name,
    # which lists no work (moegirl characters never do), so it is a named drop.
    (moe_character,) = items[("moegirl", "character")]
    assert moe_character.names == {"zh-Hans": "泉此方", "ja": "泉こなた"}
    assert ("moegirl", "section") not in items
    assert report.counters["item/character-without-work"] == 2  # Jikan's Ginko and moegirl's 泉此方
    # pixiv: the captures translate tags to English only, so no tag_ja-tag_zh pair and a named drop per tag.
    assert "tag_ja-tag_zh" not in by_type
    assert report.counters["item/tag-without-zh"] == len(items[("pixiv", "tag_translation")]) > 0
