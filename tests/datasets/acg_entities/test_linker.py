"""The linker on a small hand-made crawl: id links, Splink matches, homonyms, seasons, refused links, tags."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from acg2vec.crawlers.items import Character, Item, Person, Tag, TagTranslation, Work, item_to_dict
from acg2vec.datasets.acg_entities import records, schema
from acg2vec.datasets.acg_entities.build import build, link_raw
from acg2vec.workspace import Workspace

pytestmark = pytest.mark.integration


def _items() -> list[Item]:
    star = {"ja": "星の約束", "zh-Hans": "星之约定"}
    return [
        # One work on four sites: Bangumi, MyAnimeList (MAL's own romaji, its second season as its own entry),
        # two Wikipedia editions joined by their language links, and moegirl without a Japanese title.
        Work(source="bangumi", source_id="10", titles=star, type="anime", air_date="2003-04-05", ids={"bangumi": "10"}),
        Work(source="animelist", source_id="7", titles={"ja": "星の約束", "ja-Latn": "Hoshi no Yakusoku"}, type="tv",
             air_date="2003-04-06", episodes=12, ids={"mal": "7"}),
        Work(source="animelist", source_id="8", titles={"ja": "星の約束 第2期", "ja-Latn": "Hoshi no Yakusoku 2nd Season"},
             type="tv", air_date="2003-07-06", episodes=12, ids={"mal": "8"}),
        Work(source="wikipedia", source_id="ja:星の約束", titles={"ja": "星の約束", "zh-Hans": "星之约定"}, type="anime",
             tags=["日本のテレビアニメ"], ids={"wiki:ja": "星の約束", "wiki:zh": "星之约定"}),
        Work(source="wikipedia", source_id="zh:星之约定", titles={"ja": "星の約束", "zh-Hans": "星之约定"}, type="anime",
             tags=["2003年作品"], ids={"wiki:ja": "星の約束", "wiki:zh": "星之约定"}),
        Work(source="moegirl", source_id="zh:星之约定", titles={"zh-Hans": "星之约定"}, type="anime", tags=["2003年日本动画"]),
        # A different work with the same title, 16 years later (its wiki page disambiguated by the year).
        Work(source="bangumi", source_id="20", titles=star, type="anime", air_date="2019-10-01", ids={"bangumi": "20"}),
        Work(source="wikipedia", source_id="ja:星の約束 (2019年のアニメ)", titles={"ja": "星の約束 (2019年のアニメ)"},
             type="anime", ids={"wiki:ja": "星の約束 (2019年のアニメ)"}),
        # A page whose language link points at a second Japanese page of another work: refused, dead-lettered.
        Work(source="wikipedia", source_id="zh:冲突", titles={"zh-Hans": "冲突"}, ids={"wiki:ja": "星の約束 (2019年のアニメ)"}),
        Work(source="wikipedia", source_id="ja:衝突", titles={"ja": "衝突"}, ids={"wiki:zh": "冲突"}),
        Work(source="bangumi", source_id="30", titles={}, aliases=[]),  # no title at all
        Character(source="bangumi", source_id="100", names={"ja": "星野 明里", "zh-Hans": "星野明里", "ja-Latn": "Hoshino Akari"},
                  work_ids=["10"], voice_actor_ids=["5"]),
        Character(source="animelist", source_id="200", names={"ja": "星野 明里", "ja-Latn": "Hoshino, Akari"},
                  work_ids=["7"], voice_actor_ids=["9"]),
        # Same name, other work: another character.
        Character(source="bangumi", source_id="101", names={"ja": "星野 明里", "zh-Hans": "星野明里"}, work_ids=["20"]),
        Person(source="bangumi", source_id="5", names={"ja": "真田翔太", "zh-Hans": "真田翔太", "ja-Latn": "Shouta Sanada"}),
        Person(source="animelist", source_id="9", names={"ja": "真田翔太", "ja-Latn": "Sanada, Shota"}),
        TagTranslation(source="pixiv", source_id="星野明里", tag="星野明里", translations={"zh-Hans": "星野明里"},
                       romaji="hoshinoakari"),
        Tag(source="safebooru", source_id="hoshino_akari", name="hoshino_akari", category="character"),
    ]  # fmt: skip


def _write(raw: Path, items: list[Item], extra_lines: dict[str, list[str]] | None = None) -> None:
    for item in items:
        path = raw / item.source / f"{item.kind}-00000.jsonl.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "at", encoding="utf-8") as fh:
            fh.write(json.dumps(item_to_dict(item), ensure_ascii=False) + "\n")
    for name, lines in (extra_lines or {}).items():
        with gzip.open(raw / name, "at", encoding="utf-8") as fh:
            fh.writelines(line + "\n" for line in lines)


def test_one_entity_per_true_work_character_and_person(tmp_path: Path) -> None:
    _write(tmp_path / "raw", _items(), {"bangumi/work-00001.jsonl.gz": ["{not json", '{"kind": "work"}']})
    folder, linked = build(Workspace.at(tmp_path))
    entity = linked.record_entity
    first = entity["work:bangumi:10"]
    season_site = ("work:animelist:7", "work:animelist:8", "work:wikipedia:ja:星の約束", "work:wikipedia:zh:星之约定")
    assert all(entity[r] == first for r in (*season_site, "work:moegirl:zh:星之约定"))
    assert entity["work:bangumi:20"] == entity["work:wikipedia:ja:星の約束 (2019年のアニメ)"] != first
    assert entity["character:bangumi:100"] == entity["character:animelist:200"] != entity["character:bangumi:101"]
    assert entity["person:bangumi:5"] == entity["person:animelist:9"]
    # The table: evidence per record, the tag joined, the booru tag linked through the pixiv translation.
    table = records.load_entities(folder)
    assert records.record_index(folder) == linked.record_entity  # what the text build's workers read back
    work = table[first]
    assert work.entity_id == schema.entity_id("work", "bangumi", "10") and work.titles["ja"] == "星の約束"
    methods = {(ev.source, ev.source_id): ev for ev in work.evidence}
    assert methods[("bangumi", "10")].method == schema.SEED
    assert methods[("wikipedia", "zh:星之约定")].method == schema.ID_LINK
    moegirl = methods[("moegirl", "zh:星之约定")]
    assert moegirl.method == schema.MATCH and moegirl.match_probability >= 0.8 and "zh_key" in moegirl.agreed
    akari = table[entity["character:bangumi:100"]]
    assert akari.works == [first] and akari.voice_actors == [entity["person:bangumi:5"]]
    assert ("pixiv", "星野明里") not in akari.sources  # two characters are called 星野明里: the tag names neither
    # Only one of them has a romaji name, so the booru tag hoshino_akari names that one.
    assert [(t.tag, t.entity_id, t.method) for t in records.read_tag_links(folder)] == [
        ("hoshino_akari", akari.entity_id, "name")
    ]
    # Bad input: counted under its reason, dead-lettered, and the counts add up.
    counts = linked.counts
    assert counts["Entities-no-title"] == 1 and counts["Entities-malformed-json"] == 1
    assert counts["Entities-missing-field"] == 1 and counts["Entities-id-link-conflict"] == 1
    read = counts["Entities-read"]
    kept = counts["Entities-records"] + counts["Entities-tag-translations"] + counts["Entities-booru-tags"]
    assert read == kept + sum(counts[f"Entities-{r}"] for r in ("no-title", "malformed-json", "missing-field"))
    with gzip.open(Path(folder) / "dead_letters" / "Entities.jsonl.gz", "rt") as fh:
        reasons = sorted(json.loads(line)["reason"] for line in fh)
    assert reasons == ["id-link-conflict", "malformed-json", "missing-field", "no-title"]
    assert "Refused" in (Path(folder) / "README.md").read_text()


def test_a_pixiv_tag_and_a_booru_tag_link_to_their_one_character(tmp_path: Path) -> None:
    items = [i for i in _items() if not (isinstance(i, Character) and i.source_id == "101")]
    _write(tmp_path / "raw", items)
    linked = link_raw(str(tmp_path / "raw"))
    akari = linked.record_entity["character:bangumi:100"]
    assert linked.record_entity["tag:pixiv:星野明里"] == akari
    assert [(t.tag, t.entity_id, t.method) for t in linked.tag_links] == [
        ("hoshino_akari", akari, "pixiv-translation")
    ]


def test_build_entities_command_links_and_refuses_an_empty_workdir(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from acg2vec.cli import app

    empty = CliRunner().invoke(app, ["--workdir", str(tmp_path / "empty"), "build", "entities"])
    assert empty.exit_code != 0 and "crawl first" in str(empty.exception or empty.output)
    _write(tmp_path / "raw", _items()[:6])
    result = CliRunner().invoke(app, ["--workdir", str(tmp_path), "build", "entities"])
    assert result.exit_code == 0, result.output
    (work,) = records.read_entities(Workspace.at(tmp_path), kind="work")
    assert len(work.sources) == 6 and records.find_entity(tmp_path, work.entity_id) == work
