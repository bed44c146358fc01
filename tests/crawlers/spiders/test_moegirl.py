"""moegirl: its site data on the shared MediaWiki spider; character and work infoboxes; the real capture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from acg2vec.crawlers.items import Character, Section, Work
from acg2vec.crawlers.spiders.mediawiki import ParsedPage
from acg2vec.crawlers.spiders.moegirl import MoegirlSpider

FIXTURES = Path(__file__).parents[1] / "fixtures" / "moegirl"
BASE = "http://127.0.0.1:8000/moegirl"


def make_spider(**kwargs: object) -> MoegirlSpider:
    return get_crawler(MoegirlSpider, {})._create_spider(base_url=BASE, **kwargs)


def parse(spider: MoegirlSpider, name: str) -> list:
    url = spider.page_request("x").url
    return list(
        spider.parse_page(
            TextResponse(url=url, body=(FIXTURES / name).read_bytes(), encoding="utf-8", request=Request(url))
        )
    )


@pytest.mark.unit
def test_api_path_and_page_urls_are_moegirls() -> None:
    spider = make_spider()
    assert spider.page_request("米娜").url.startswith(f"{BASE}/api.php?action=parse&page=%E7%B1%B3%E5%A8%9C")
    assert (
        spider.page_url("星之旅人 第二季")
        == f"{BASE}/%E6%98%9F%E4%B9%8B%E6%97%85%E4%BA%BA_%E7%AC%AC%E4%BA%8C%E5%AD%A3"
    )
    assert MoegirlSpider(base_url=None).base_url == "https://zh.moegirl.org.cn"


@pytest.mark.unit
def test_character_page_yields_sections_and_a_character() -> None:
    spider = make_spider()
    items = parse(spider, "parse_character.json")
    sections = [i for i in items if isinstance(i, Section)]
    assert [(s.heading_path, s.text) for s in sections] == [
        ([], "米娜是动画《星之旅人》的主角。其实是机器人"),
        (["简介", "性格"], "开朗，喜欢星星。"),
    ]
    assert sections[0].source == "moegirl" and sections[0].language == "zh" and sections[0].langlinks == {"ja": "ミナ"}
    (character,) = [i for i in items if isinstance(i, Character)]
    assert character.names == {"zh-Hans": "米娜", "ja": "美な"}
    assert character.aliases == ["小米", "旅人"]
    assert character.voice_actor_ids == ["山田花子"]
    assert character.ids == {"moegirl": "米娜"} and character.summaries == {"zh-Hans": sections[0].text}
    stats = spider.crawler.stats.get_stats()
    assert stats["acg2vec/sections/boilerplate"] == 1 and stats["acg2vec/sections/empty"] == 1


@pytest.mark.unit
def test_work_page_yields_a_work_with_titles_from_langlinks_and_infobox() -> None:
    items = parse(make_spider(), "parse_work.json")
    (work,) = [i for i in items if isinstance(i, Work)]
    assert work.titles == {"zh-Hans": "星之旅人", "ja": "星の旅人", "en": "Star Traveller"}
    assert work.aliases == ["Star Traveller", "星旅"]
    assert (work.type, work.tags) == ("anime", ["日本动画作品"])
    assert work.ids == {"moegirl": "星之旅人", "wiki:ja": "星の旅人", "wiki:en": "Star Traveller"}
    sections = [i for i in items if isinstance(i, Section)]
    assert [s.heading_path for s in sections] == [[], ["剧情"], ["登场人物"]]
    assert sections[2].text == "米娜\n主角。"


@pytest.mark.unit
def test_real_moegirl_capture(shared_fixtures: Path) -> None:
    data = json.loads((shared_fixtures / "moegirl" / "moegirl_dataset_readme_sample.json").read_text(encoding="utf-8"))
    for title, (raw,) in data["extra_info_raw_wikitext"].items():
        expected = data["extra_processed"][title]
        page = ParsedPage(title=title, page_id="1", wikitext=raw, langlinks={}, categories=[], properties={})
        (character,) = [i for i in make_spider().page_items(page) if isinstance(i, Character)]
        assert character.names["ja"] == expected["本名"][0]
        assert character.aliases == expected["别名"]
        # The processed form names the voice actors' categories ("平野绫配音角色"); we keep their page titles.
        assert [f"{v}配音角色" for v in character.voice_actor_ids][:2] == expected["声优"][:2]
        assert len(character.voice_actor_ids) == len(expected["声优"])


def _rows(raw: Path, kind: str) -> list[dict]:
    import gzip

    rows = []
    for path in sorted(raw.glob(f"{kind}-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh]
    return rows


@pytest.mark.integration
def test_whole_crawl_of_the_sample_site(workdir: Path) -> None:
    from acg2vec.crawlers.runner import run_spider
    from acg2vec.sample_site.server import start_sample_site
    from acg2vec.workspace import Workspace

    site = start_sample_site(seed=0, posts=10)
    try:
        options = {
            "workspace": Workspace.at(workdir),
            "base_url": site.url_for("moegirl"),
            "throttle": False,
            "quiet": True,
        }
        works_run = run_spider("moegirl", spider_args={"limit": 4}, timeout=120, **options)
        characters_run = run_spider(
            "moegirl", spider_args={"category": ["动画角色"], "limit": 3}, timeout=120, **options
        )
        world = site.world
    finally:
        site.stop()
    raw = workdir / "raw" / "moegirl"
    works, characters = _rows(raw, "work"), _rows(raw, "character")
    assert works_run.finish_reason == characters_run.finish_reason == "finished"
    assert works_run.dropped == characters_run.dropped == {}
    # The category also lists a talk page and a disambiguation page: skipped, each under its reason.
    assert set(works_run.bad_input) <= {"namespace", "disambiguation"}
    by_title = {w.moegirl_title: w for w in world.works}
    assert works and all(
        w["titles"].get("ja") == by_title[w["ids"]["moegirl"]].title_on("moegirl", "ja") for w in works
    )  # moegirl gives no Japanese title for some works
    assert all(w["type"] == "anime" for w in works)
    people = {p.names["zh-Hans"] for p in world.persons}
    by_character = {c.moegirl_title: c for c in world.characters}
    assert len(characters) == 3
    for row in characters:
        expected = by_character[row["ids"]["moegirl"]]
        assert row["voice_actor_ids"] == [world.voice_actor_of(expected).names["zh-Hans"]]
        assert row["voice_actor_ids"][0] in people
        assert row["aliases"] == expected.aliases
    sections = _rows(raw, "section")
    assert {s["title"] for s in sections} >= {w["ids"]["moegirl"] for w in works}
    assert all("{{" not in s["text"] and "[[" not in s["text"] for s in sections)


@pytest.mark.integration
def test_crawl_through_every_fault_mode_loses_nothing(workdir: Path) -> None:
    """Each fault the sample site injects (429, 5xx, truncated and cut bodies, HTML 200 errors, slow answers)
    is ridden out: the faulty crawl writes exactly what a clean crawl writes."""
    from acg2vec.crawlers.runner import run_spider
    from acg2vec.sample_site.faults import FaultPlan
    from acg2vec.sample_site.server import start_sample_site
    from acg2vec.workspace import Workspace

    def crawl(root: Path, faults: FaultPlan | None) -> tuple[object, list[dict], dict]:
        site = start_sample_site(seed=0, posts=10, faults=faults)
        try:
            report = run_spider(
                "moegirl", workspace=Workspace.at(root), base_url=site.url_for("moegirl"),
                spider_args={"limit": 4}, throttle=False, quiet=True, timeout=300,
            )  # fmt: skip
            return report, _rows(root / "raw" / "moegirl", "section"), dict(site.faults.injected)
        finally:
            site.stop()

    plan = FaultPlan(
        rate_limit=1, server_error=1, truncated=1, cut_json=1, html_error=1, slow=1, slow_seconds=0.2,
        retry_after=0, every=2,
    )  # fmt: skip
    clean, clean_rows, _ = crawl(workdir / "clean", None)
    faulty, faulty_rows, injected = crawl(workdir / "faulty", plan)
    assert set(injected) == {"rate_limit", "server_error", "truncated", "cut_json", "html_error", "slow"}
    assert faulty.retries > 0 and faulty.written == clean.written and clean.written.get("section", 0) > 0
    assert faulty.bad_input == clean.bad_input
    key = lambda r: (r["source_id"], r["text"])  # noqa: E731
    assert sorted(map(key, faulty_rows)) == sorted(map(key, clean_rows))
