"""MyAnimeList spider: Jikan v4 parsers, MAL HTML pages, rate-limit settings, the real Jikan captures."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse, Request, TextResponse
from scrapy.utils.test import get_crawler

from acg2vec.crawlers.items import Character, Person, Work
from acg2vec.crawlers.parsers.jikan import work_from_anime
from acg2vec.crawlers.spiders.animelist import AnimeListSpider

FIXTURES = Path(__file__).parents[1] / "fixtures"
BASE = "http://127.0.0.1:8000/jikan/v4"
MAL = "http://127.0.0.1:8000/mal"


def make_spider(**kwargs: object) -> AnimeListSpider:
    kwargs.setdefault("base_url", BASE)
    return get_crawler(AnimeListSpider, {})._create_spider(**kwargs)


def response(url: str, name: str | None = None, *, body: bytes | None = None) -> TextResponse:
    body = (FIXTURES / "jikan" / name).read_bytes() if body is None else body
    return TextResponse(url=url, body=body, encoding="utf-8", request=Request(url))


def html(url: str, name: str) -> HtmlResponse:
    return HtmlResponse(url=url, body=(FIXTURES / "mal" / name).read_bytes(), encoding="utf-8", request=Request(url))


def stats(spider: AnimeListSpider) -> dict:
    return spider.crawler.stats.get_stats()


def start_urls(spider: AnimeListSpider) -> list[str]:
    async def collect() -> list[str]:
        return [r.url async for r in spider.start()]

    return asyncio.run(collect())


@pytest.mark.unit
def test_rate_limits_are_spider_settings_within_jikans_published_limits() -> None:
    settings = AnimeListSpider.custom_settings
    # 60 requests a minute at most: one request at a time, one second apart, no random shortening.
    assert settings["DOWNLOAD_DELAY"] >= 1.0 and settings["CONCURRENT_REQUESTS_PER_DOMAIN"] == 1
    assert settings["DOWNLOAD_DELAY_JITTER"] == 0
    crawler = get_crawler(AnimeListSpider, {})
    assert crawler.settings.getfloat("DOWNLOAD_DELAY") == 1.0


@pytest.mark.unit
def test_start_urls_by_mode() -> None:
    assert start_urls(make_spider()) == [f"{BASE}/anime?page=1"]
    assert start_urls(make_spider(ids=[7001, 7002], limit=1)) == [f"{BASE}/anime/7001/full"]
    assert start_urls(make_spider(mode="html", base_url=MAL)) == [f"{MAL}/topanime.php"]
    assert start_urls(make_spider(mode="html", base_url=MAL, ids=[5])) == [f"{MAL}/anime/5"]
    assert AnimeListSpider(mode="html").base_url == "https://myanimelist.net"
    with pytest.raises(ValueError, match="mode must be"):
        AnimeListSpider(mode="xml")


@pytest.mark.unit
def test_anime_list_page_follows_characters_and_next_page_and_counts_broken_entries() -> None:
    spider = make_spider()
    out = list(spider.parse_anime_list(response(f"{BASE}/anime?page=1", "anime_page1.json"), page=1))
    assert [r.url for r in out] == [f"{BASE}/anime/7001/characters", f"{BASE}/anime?page=2"]
    work = out[0].cb_kwargs["work"]
    assert work.titles == {"ja-Latn": "Hoshi no Tabibito", "ja": "星の旅人", "en": "Star Traveller"}
    assert work.aliases == ["HoshiTabi"]
    assert (work.tags, work.air_date, work.type) == (["Sci-Fi", "Space"], "2020-04-03", "tv")
    assert work.summaries == {"en": "A girl and her robot travel to find a star."}
    assert (work.source, work.ids, work.url) == (
        "animelist",
        {"mal": "7001"},
        "https://myanimelist.net/anime/7001/Hoshi_no_Tabibito",
    )
    assert stats(spider)["acg2vec/bad_input/bad-anime"] == 1


@pytest.mark.unit
def test_limit_stops_the_walk() -> None:
    spider = make_spider(limit=1)
    out = list(spider.parse_anime_list(response(f"{BASE}/anime?page=1", "anime_page1.json"), page=1))
    assert [r.url for r in out] == [f"{BASE}/anime/7001/characters"]


@pytest.mark.unit
def test_characters_then_character_then_person() -> None:
    spider = make_spider()
    work = Work(source="animelist", source_id="7001", titles={"ja-Latn": "x"})
    out = list(
        spider.parse_anime_characters(
            response(f"{BASE}/anime/7001/characters", "anime_7001_characters.json"), work=work
        )
    )
    assert out[0] is work and work.character_ids == ["8001", "8002"]
    assert [r.url for r in out[1:]] == [f"{BASE}/characters/8001/full", f"{BASE}/characters/8002/full"]

    character, person_request = spider.parse_character(response(out[1].url, "character_8001_full.json"))
    assert isinstance(character, Character)
    assert character.names == {"ja-Latn": "Mina", "ja": "ミナ"} and character.aliases == ["Mii-chan"]
    assert (character.work_ids, character.voice_actor_ids) == (["7001"], ["9001"])  # Japanese voices only
    assert person_request.url == f"{BASE}/people/9001/full"

    (person,) = spider.parse_person(response(person_request.url, "person_9001_full.json"))
    assert isinstance(person, Person)
    assert person.names == {"ja-Latn": "Hanako Yamada", "ja": "山田花子"} and person.aliases == ["Hana-chan"]
    assert (person.roles, person.character_ids) == (["voice actor"], ["8001"])


@pytest.mark.unit
def test_all_voice_languages_when_asked() -> None:
    spider = make_spider(voice_languages=[])
    character, *requests = spider.parse_character(response(f"{BASE}/characters/8001/full", "character_8001_full.json"))
    assert character.voice_actor_ids == ["9001", "9002"] and len(requests) == 2


@pytest.mark.unit
def test_html_error_page_with_status_200_is_retried_then_counted() -> None:
    spider = make_spider()
    body = b"<!DOCTYPE html><html><body>Service unavailable</body></html>"
    (retry,) = spider.parse_anime_list(response(f"{BASE}/anime?page=1", body=body), page=1)
    assert retry.url == f"{BASE}/anime?page=1" and retry.dont_filter
    assert stats(spider)["acg2vec/page_retries/html-instead-of-json"] == 1
    spent = retry.replace(meta={"acg2vec_page_retries": spider.args.page_retries})
    page = TextResponse(url=retry.url, body=body, encoding="utf-8", request=spent)
    assert list(spider.parse_anime_list(page, page=1)) == []
    assert stats(spider)["acg2vec/bad_input/html-instead-of-json"] == 1


@pytest.mark.unit
def test_mal_anime_page_parses_into_the_same_work() -> None:
    spider = make_spider(mode="html", base_url=MAL)
    (work,) = spider.parse_anime_page(html(f"{MAL}/anime/7001/Hoshi_no_Tabibito", "anime_7001.html"))
    jikan = work_from_anime(json.loads((FIXTURES / "jikan" / "anime_page1.json").read_text())["data"][0])
    assert work.titles == jikan.titles
    assert work.aliases == ["HoshiTabi", "Star Tabi"]
    assert (work.tags, work.air_date, work.ids) == (jikan.tags, jikan.air_date, jikan.ids)
    assert work.summaries == {
        "en": "A girl and her robot travel to find a star.\nAlong the way they meet many people."
    }
    assert work.character_ids == ["8001", "8002"]


@pytest.mark.unit
def test_mal_top_page_follows_anime_pages_and_the_next_page() -> None:
    spider = make_spider(mode="html", base_url=MAL)
    out = list(spider.parse_top_page(html(f"{MAL}/topanime.php", "topanime.html")))
    assert [r.url for r in out] == [
        "https://myanimelist.net/anime/7001/Hoshi_no_Tabibito",
        "http://127.0.0.1:8000/anime/7002/Yuki_no_Hi",
        f"{MAL}/topanime.php?limit=50",
    ]


@pytest.mark.unit
def test_mal_page_without_title_is_retried_then_counted() -> None:
    spider = make_spider(mode="html", base_url=MAL)
    url = f"{MAL}/anime/1"
    (retry,) = spider.parse_anime_page(HtmlResponse(url=url, body=b"<html><p>busy</p></html>", request=Request(url)))
    assert retry.url == url and retry.meta["acg2vec_page_retries"] == 1
    spent = Request(url, meta={"acg2vec_page_retries": spider.args.page_retries})
    page = HtmlResponse(url=url, body=b"<html><body><p>nothing</p></body></html>", encoding="utf-8", request=spent)
    assert list(spider.parse_anime_page(page)) == []
    assert stats(spider)["acg2vec/bad_input/bad-anime-page"] == 1


@pytest.mark.unit
def test_real_jikan_captures(shared_fixtures: Path) -> None:
    real = shared_fixtures / "jikan"
    spider = make_spider()

    def body(name: str) -> dict:
        return json.loads((real / name).read_text(encoding="utf-8"))["body"]

    (request,) = spider.parse_anime_full(
        response(f"{BASE}/anime/457/full", body=json.dumps(body("anime-success.json")).encode())
    )
    work = request.cb_kwargs["work"]
    assert work.titles.items() >= {"ja-Latn": "Mushishi", "ja": "蟲師", "en": "Mushi-Shi"}.items()
    assert set(work.titles) <= {"ja-Latn", "ja", "en", "de", "es", "fr"}
    assert work.air_date == "2005-10-23" and "Adventure" in work.tags and "Seinen" in work.tags
    assert work.summaries["en"].startswith('"Mushi"')
    assert (work.type, work.episodes) == ("tv", 26)

    for name in ("search-success.json", "top-success.json"):
        data = body(name)
        out = list(spider.parse_anime_list(response(f"{BASE}/anime?page=1", body=json.dumps(data).encode()), page=1))
        works = [r.cb_kwargs["work"] for r in out if "work" in r.cb_kwargs]
        assert [w.source_id for w in works] == [str(a["mal_id"]) for a in data["data"]]
        assert all(w.titles["ja-Latn"] == a["title"] for w, a in zip(works, data["data"], strict=True))
        # The API's own type, lower case: the search page mixes Special, TV, Movie, ONA and OVA.
        assert [w.type for w in works] == [a["type"].lower() for a in data["data"]]
        assert out[-1].url == f"{BASE}/anime?page=2"  # has_next_page

    (character,) = spider.parse_character(
        response(f"{BASE}/characters/425", body=json.dumps(body("character-success.json")).encode())
    )
    assert character.names == {"ja-Latn": "Ginko", "ja": "ギンコ"} and character.aliases == ["Mushishi", "Yoki"]

    (person,) = spider.parse_person(
        response(f"{BASE}/people/185", body=json.dumps(body("person-success.json")).encode())
    )
    assert person.names == {"ja-Latn": "Kana Hanazawa", "ja": "花澤香菜"} and person.aliases == [
        "HanaKana",
        "KanaHana",
    ]
    assert not any(k.startswith("acg2vec/bad_input/") for k in stats(spider))


def _rows(raw: Path, kind: str) -> list[dict]:
    rows = []
    for path in sorted(raw.glob(f"{kind}-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh]
    return rows


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["jikan", "html"])
def test_whole_crawl_of_the_sample_site(workdir: Path, mode: str) -> None:
    from acg2vec.crawlers.runner import run_spider
    from acg2vec.sample_site.server import start_sample_site
    from acg2vec.workspace import Workspace

    site = start_sample_site(seed=0, posts=10)
    args: dict[str, object] = {"mode": mode, "limit": 3}
    if mode == "html":
        # The sample site serves MAL's anime pages but no ranking pages: the HTML mode reads given ids.
        args["ids"] = [w.mal_id for w in site.world.works if w.mal_id is not None]
    try:
        report = run_spider(
            "animelist", workspace=Workspace.at(workdir), base_url=site.url_for("jikan" if mode == "jikan" else "mal"),
            spider_args=args, throttle=False, quiet=True, timeout=120,
        )  # fmt: skip
        world = site.world
    finally:
        site.stop()
    raw = workdir / "raw" / "animelist"
    works = _rows(raw, "work")
    assert report.finish_reason == "finished" and report.dropped == {} and report.bad_input == {}
    assert len(works) == 3
    for row in works:
        expected = world.by_mal_anime[int(row["source_id"])]
        assert row["titles"]["ja"] == expected.titles["ja"]
        assert row["titles"].get("en") == expected.title_on("mal", "en")  # MyAnimeList's own (maybe none)
    if mode == "jikan":
        characters, persons = _rows(raw, "character"), _rows(raw, "person")
        assert {c["source_id"] for c in characters} == {c for w in works for c in w["character_ids"]}
        assert {p["source_id"] for p in persons} == {p for c in characters for p in c["voice_actor_ids"]}
        for row in characters:
            character = world.by_mal_character[int(row["source_id"])]
            assert row["voice_actor_ids"] == [str(world.voice_actor_of(character).mal_id)]


@pytest.mark.integration
@pytest.mark.slow
def test_jikan_crawl_through_every_fault_mode_loses_nothing(workdir: Path) -> None:
    from acg2vec.crawlers.runner import run_spider
    from acg2vec.sample_site.faults import FaultPlan
    from acg2vec.sample_site.server import start_sample_site
    from acg2vec.workspace import Workspace

    plan = FaultPlan(rate_limit=1, server_error=1, truncated=1, cut_json=1, html_error=1, retry_after=0, every=2)
    site = start_sample_site(seed=0, posts=10, faults=plan)
    try:
        report = run_spider(
            "animelist", workspace=Workspace.at(workdir), base_url=site.url_for("jikan"), spider_args={"limit": 2},
            throttle=False, quiet=True, timeout=300,
        )  # fmt: skip
        injected = dict(site.faults.injected)
        world = site.world
    finally:
        site.stop()
    assert set(injected) == {"rate_limit", "server_error", "truncated", "cut_json", "html_error"}
    assert report.bad_input == {} and report.dropped == {} and report.retries > 0
    raw = workdir / "raw" / "animelist"
    anime = [w for w in world.works if w.mal_id is not None][:2]
    assert sorted(int(w["source_id"]) for w in _rows(raw, "work")) == sorted(w.mal_id for w in anime)
    cast = [c for w in anime for c in world.characters_of(w)]
    assert sorted(int(c["source_id"]) for c in _rows(raw, "character")) == sorted(c.mal_id for c in cast)
    assert {int(p["source_id"]) for p in _rows(raw, "person")} == {world.voice_actor_of(c).mal_id for c in cast}


@pytest.mark.unit
def test_without_characters_the_works_come_straight_from_the_list() -> None:
    spider = make_spider(characters=False)
    out = list(spider.parse_anime_list(response(f"{BASE}/anime?page=1", "anime_page1.json"), page=1))
    assert isinstance(out[0], Work) and out[0].source_id == "7001"
    assert [r.url for r in out[1:]] == [f"{BASE}/anime?page=2"]


# -- MyAnimeList HTML: both layouts, on the real pages and on hand-made ones of the same shapes ----------------


def page(url: str, body: str) -> HtmlResponse:
    return HtmlResponse(url=url, body=body.encode(), encoding="utf-8", request=Request(url))


@pytest.mark.unit
def test_a_page_in_neither_layout_is_dead_lettered_not_written_half_empty() -> None:
    spider = make_spider(mode="html", base_url=MAL)
    body = "<html><body><h1 class='title-name'>Some Anime</h1><div class='new-layout'>Type: TV</div></body></html>"
    assert list(spider.parse_anime_page(page(f"{MAL}/anime/5", body))) == []
    assert stats(spider)["acg2vec/bad_input/layout-unknown"] == 1
