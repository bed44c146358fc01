"""Conformance: items parsed from the real site captures (../shared/fixtures/real) go through the text build."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from acg2vec.beam_pipelines import texts
from acg2vec.crawlers import wikitext
from acg2vec.crawlers.items import Character, Item, Section, TagTranslation, Work, item_to_dict
from acg2vec.crawlers.spiders.bangumi import character_from, person_from, related_ids, work_from_subject
from acg2vec.crawlers.spiders.mediawiki import read_parse_response

pytestmark = pytest.mark.integration


def _load(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def _items(real: Path) -> dict[tuple[str, str], list[Item]]:
    """Items from the captures: Bangumi with the crawler's parsers, the others with minimal parsing here."""
    out: dict[tuple[str, str], list[Item]] = {}

    def add(item: Item) -> None:
        out.setdefault((item.source, item.kind), []).append(item)

    subject = _load(real / "bangumi" / "v0_example_SubjectDetail.json")
    related = _load(real / "bangumi" / "v0_example_RelatedCharacter.json")
    add(work_from_subject(subject, url=None, character_ids=related_ids(related)))
    for character in related:
        add(character_from(character, url=None, work_ids=[subject["id"]]))
    add(person_from(_load(real / "bangumi" / "v0_example_PersonDetail.json"), url=None))

    anime = _load(real / "jikan" / "anime-success.json")["body"]["data"]
    titles = {"ja": anime.get("title_japanese"), "en": anime.get("title_english") or anime.get("title")}
    add(Work(source="animelist", source_id=str(anime["mal_id"]), titles={k: v for k, v in titles.items() if v},
             summaries={"en": anime["synopsis"]} if anime.get("synopsis") else {}, ids={"mal": str(anime["mal_id"])}))  # fmt: skip

    page = read_parse_response(_load(real / "mediawiki" / "wptools_parse.json")["response"])
    for index, section in enumerate(wikitext.split_sections(page.wikitext)):
        add(Section(source="wikipedia", source_id=f"en:{page.title}#{index}", title=page.title, language="en",
                    heading_path=section.heading_path, text=section.text, langlinks=page.langlinks))  # fmt: skip

    moegirl = _load(real / "moegirl" / "moegirl_dataset_readme_sample.json")
    for name, raw in moegirl["extra_info_raw_wikitext"].items():
        # The capture holds only the infobox: as section text it is all markup and must come out empty.
        add(Section(source="moegirl", source_id=f"zh:{name}#0", title=name, language="zh-Hans", text=raw[0]))
        real_name = moegirl["extra_processed"][name]["本名"][0]
        add(Character(source="moegirl", source_id=f"zh:{name}", names={"zh-Hans": name, "ja": real_name}))

    for capture in sorted((real / "pixiv").glob("test-image-info*.json")):
        body = _load(capture)["body"]
        for tag in body["tags"]["tags"]:
            if tag.get("translation"):
                add(
                    TagTranslation(
                        source="pixiv",
                        source_id=tag["tag"],
                        tag=tag["tag"],
                        translations=tag["translation"],
                        romaji=tag.get("romaji"),
                    )
                )
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
    # Jikan: the Japanese and English titles of Mushishi.
    assert [(r[0], r[1], r[4]) for r in by_type["title_ja-title_en"]] == [("蟲師", "Mushi-Shi", "mal:457")]
    # Wikipedia: the Douglas Adams page's sections, markup stripped.
    sections = by_type["heading-section"]
    assert any(r[0] == "Early life / Education" for r in sections)
    assert all("{{" not in r[1] and "<ref" not in r[1] and "[[" not in r[1] for r in sections)
    assert all(r[5] == r[6] == "en" for r in sections)
    # moegirl: the infobox-only text is dropped as empty, under its name.
    assert report.counters["pair/positive-empty-text"] >= 1
    # pixiv: the captures translate tags to English only, so no tag_ja-tag_zh pair and a named drop per tag.
    assert "tag_ja-tag_zh" not in by_type
    assert report.counters["item/tag-without-zh"] == len(items[("pixiv", "tag_translation")])
