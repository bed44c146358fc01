"""Bangumi API v0 spider: parsers on hand-made responses, the real captures, and a whole crawl of the sample site."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from acg2vec.crawlers.feeds import bookkeeping
from acg2vec.crawlers.items import Character, ItemError, Person, Work
from acg2vec.crawlers.spiders.bangumi import (
    BangumiSpider,
    air_date,
    character_from,
    infobox_values,
    parse_date,
    parse_wiki_infobox,
    person_from,
    work_from_subject,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bangumi"
BASE = "http://127.0.0.1:8000/bangumi"


def make_spider(tmp_path: Path | None = None, **kwargs: object) -> BangumiSpider:
    settings = {"ACG2VEC_WORKSPACE": str(tmp_path), "ACG2VEC_SOURCE": "bangumi"} if tmp_path else {}
    crawler = get_crawler(BangumiSpider, settings)
    return crawler._create_spider(base_url=BASE, **kwargs)


def response(
    url: str, name: str | None = None, *, body: bytes | None = None, request: Request | None = None
) -> TextResponse:
    if body is None:
        body = (FIXTURES / name).read_bytes()
    return TextResponse(url=url, body=body, encoding="utf-8", request=request or Request(url))


def stats(spider: BangumiSpider) -> dict:
    return spider.crawler.stats.get_stats()


# -- infoboxes ----------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_parse_wiki_infobox_reads_plain_and_list_values() -> None:
    text = "{{Infobox animanga/TVAnime\r\n|中文名= 星之旅人\r\n|别名={\r\n[Star Traveller]\r\n[英文名|The Star Traveller]\r\n[]\r\n}\r\n|话数= 12\r\nnoise\r\n}}"
    assert parse_wiki_infobox(text) == [
        {"key": "中文名", "value": "星之旅人"},
        {"key": "别名", "value": [{"v": "Star Traveller"}, {"k": "英文名", "v": "The Star Traveller"}]},
        {"key": "话数", "value": "12"},
    ]
    assert parse_wiki_infobox("") == []
    assert parse_wiki_infobox(None) == []


@pytest.mark.unit
def test_infobox_values_flattens_both_forms() -> None:
    infobox = [
        {"key": "别名", "value": [{"v": "a"}, {"k": "罗马字", "v": "b"}, {"v": " "}]},
        {"key": "别名", "value": "c"},
    ]
    assert infobox_values(infobox, "别名") == [(None, "a"), ("罗马字", "b"), (None, "c")]
    assert infobox_values("not a list", "别名") == []


# -- item builders ------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_work_from_subject_maps_names_aliases_tags_and_dates() -> None:
    subject = json.loads((FIXTURES / "subjects_page.json").read_text())["data"][0]
    work = work_from_subject(subject, url="u", character_ids=[301, 302])
    assert work.titles == {"ja": "星の旅人", "zh-Hans": "星之旅人", "en": "The Star Traveller"}
    assert work.aliases == ["Star Traveller", "星旅"]
    assert work.summaries == {"zh-Hans": "少女与机器人踏上寻找星星的旅程。\n第二段。"}
    assert work.tags == ["原创", "科幻"]
    assert (work.type, work.air_date, work.ids, work.character_ids) == (
        "anime",
        "2020-04-03",
        {"bangumi": "101"},
        ["301", "302"],
    )


@pytest.mark.unit
def test_builders_reject_records_without_id_or_name() -> None:
    with pytest.raises(ItemError) as err:
        work_from_subject({"id": 5, "name": "", "name_cn": ""}, url=None)
    assert err.value.reason == "bad-subject"
    with pytest.raises(ItemError) as err:
        character_from({"name": "x"}, url=None)
    assert err.value.reason == "bad-character"
    with pytest.raises(ItemError) as err:
        person_from([], url=None)
    assert err.value.reason == "bad-person"


# -- the spider's callbacks ---------------------------------------------------------------------------------


@pytest.mark.unit
def test_browse_page_follows_each_subject_and_the_next_page_and_drops_broken_subjects(tmp_path: Path) -> None:
    spider = make_spider(tmp_path)
    url = spider.browse_url(0)
    assert url == f"{BASE}/v0/subjects?type=2&limit=50&offset=0"
    out = list(spider.parse_browse(response(url, "subjects_page.json"), offset=0))
    assert [r.url for r in out] == [
        f"{BASE}/v0/subjects/101/characters",
        f"{BASE}/v0/subjects?type=2&limit=50&offset=2",
    ]
    assert out[0].cb_kwargs["work"].titles["ja"] == "星の旅人"
    assert out[0].errback == spider.on_subject_characters_error
    assert stats(spider)["acg2vec/bad_input/bad-subject"] == 1
    bookkeeping(spider.crawler).dead_letters.close()
    with gzip.open(tmp_path / "raw" / "bangumi" / "dead_letters" / "bangumi.jsonl.gz", "rt", encoding="utf-8") as fh:
        letters = [json.loads(line) for line in fh]
    assert [(d["reason"], d["record"]["data"]["id"]) for d in letters] == [("bad-subject", 102)]


@pytest.mark.unit
def test_browse_stops_at_the_limit() -> None:
    spider = make_spider(limit=1)
    out = list(spider.parse_browse(response(spider.browse_url(0), "subjects_page.json"), offset=0))
    assert [r.url for r in out] == [f"{BASE}/v0/subjects/101/characters"]


@pytest.mark.unit
def test_subject_characters_yield_the_work_then_each_character() -> None:
    spider = make_spider()
    work = Work(source="bangumi", source_id="101", titles={"ja": "星の旅人"})
    out = list(
        spider.parse_subject_characters(
            response(f"{BASE}/v0/subjects/101/characters", "subject_101_characters.json"), work=work
        )
    )
    assert out[0] is work and work.character_ids == ["301", "302"]
    assert [(r.url, r.cb_kwargs) for r in out[1:]] == [
        (f"{BASE}/v0/characters/301", {"work_id": 101}),
        (f"{BASE}/v0/characters/302", {"work_id": 101}),
    ]


@pytest.mark.unit
def test_character_then_persons_yield_the_character_with_works_and_voice_actors() -> None:
    spider = make_spider()
    (persons_request,) = spider.parse_character(
        response(f"{BASE}/v0/characters/301", "character_301.json"), work_id=101
    )
    assert persons_request.url == f"{BASE}/v0/characters/301/persons"
    out = list(
        spider.parse_character_persons(
            response(persons_request.url, "character_301_persons.json"), **persons_request.cb_kwargs
        )
    )
    character, person_request = out
    assert isinstance(character, Character)
    assert character.names == {"ja": "ミナ", "zh-Hans": "米娜", "ja-Latn": "Mina"}
    assert character.aliases == ["みーちゃん"]
    assert (character.work_ids, character.voice_actor_ids) == (["101", "104"], ["501"])
    assert character.url == f"{BASE}/v0/characters/301"
    assert (person_request.url, person_request.cb_kwargs) == (f"{BASE}/v0/persons/501", {"character_id": 301})


@pytest.mark.unit
def test_person_then_characters_yield_the_person_with_all_characters() -> None:
    spider = make_spider()
    (request,) = spider.parse_person(response(f"{BASE}/v0/persons/501", "person_501.json"), character_id=301)
    assert request.url == f"{BASE}/v0/persons/501/characters"
    (person,) = spider.parse_person_characters(
        response(request.url, "person_501_characters.json"), **request.cb_kwargs
    )
    assert isinstance(person, Person)
    assert person.names == {
        "ja": "山田花子",
        "zh-Hans": "山田花子",
        "ja-Kana": "やまだ はなこ",
        "ja-Latn": "Yamada Hanako",
    }
    assert person.aliases == ["はなちゃん"]
    assert (person.roles, person.character_ids) == (["seiyu", "artist"], ["301", "399"])


@pytest.mark.unit
def test_failed_link_lists_still_yield_the_entity_with_the_links_known() -> None:
    from scrapy.spidermiddlewares.httperror import HttpError
    from twisted.python.failure import Failure

    spider = make_spider()
    work = Work(source="bangumi", source_id="101", titles={"ja": "x"})
    request = Request(f"{BASE}/v0/subjects/101/characters", cb_kwargs={"work": work})
    failure = Failure(HttpError(TextResponse(request.url, status=404, body=b"{}", request=request)))
    failure.request = request
    assert list(spider.on_subject_characters_error(failure)) == [work]
    assert stats(spider)["acg2vec/bad_input/http-404"] == 1


@pytest.mark.unit
@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"", "empty-body"), (b"<html>maintenance</html>", "html-instead-of-json"), (b'{"data": [', "bad-json")],
)
def test_unusable_bodies_are_retried_then_counted_by_reason(body: bytes, reason: str) -> None:
    spider = make_spider()
    url = spider.browse_url(0)
    request = Request(url, callback=spider.parse_browse, cb_kwargs={"offset": 0})
    for attempt in range(1, spider.args.page_retries + 1):
        (retry,) = spider.parse_browse(TextResponse(url, body=body, request=request), offset=0)
        assert (retry.url, retry.dont_filter, retry.meta["acg2vec_page_retries"]) == (url, True, attempt)
        assert retry.callback == spider.parse_browse and retry.cb_kwargs == {"offset": 0}
        request = retry
    assert list(spider.parse_browse(TextResponse(url, body=body, request=request), offset=0)) == []
    assert stats(spider)[f"acg2vec/page_retries/{reason}"] == spider.args.page_retries
    assert stats(spider)[f"acg2vec/bad_input/{reason}"] == 1


@pytest.mark.unit
def test_ids_argument_requests_those_subjects() -> None:
    import asyncio

    spider = make_spider(ids=[7, 9])

    async def collect() -> list[str]:
        return [r.url async for r in spider.start()]

    assert asyncio.run(collect()) == [f"{BASE}/v0/subjects/7", f"{BASE}/v0/subjects/9"]
    assert BangumiSpider.custom_settings["USER_AGENT"].startswith("acg2vec/")


# -- conformance with the real captures -----------------------------------------------------------------------


@pytest.mark.unit
def test_real_bangumi_captures_parse(shared_fixtures: Path) -> None:
    real = shared_fixtures / "bangumi"
    spider = make_spider()
    subject = json.loads((real / "v0_example_SubjectDetail.json").read_text(encoding="utf-8"))
    (request,) = spider.parse_subject(
        response(f"{BASE}/v0/subjects/{subject['id']}", body=json.dumps(subject).encode())
    )
    work = request.cb_kwargs["work"]
    assert work.titles["ja"] == subject["name"] and work.titles["zh-Hans"] == subject["name_cn"]
    assert set(work.aliases) >= {"NGNL", "游戏人生"} - set(work.titles.values())
    assert work.tags[: len(subject["tags"][:3])] == [t["name"] for t in subject["tags"][:3]]
    assert work.air_date == subject["date"] and work.type == "anime"
    # A Chinese summary that quotes Japanese (「烂游戏」, 『人类种』) stays Chinese.
    assert list(work.summaries) == ["zh-Hans"] and work.summaries["zh-Hans"].startswith("“听说游戏玩家兄妹")

    related = json.loads((real / "v0_example_RelatedCharacter.json").read_text(encoding="utf-8"))
    out = list(spider.parse_subject_characters(response(request.url, body=json.dumps(related).encode()), work=work))
    assert work.character_ids == [str(c["id"]) for c in related]
    assert len(out) == 1 + len(related)

    person = json.loads((real / "v0_example_PersonDetail.json").read_text(encoding="utf-8"))
    (request,) = spider.parse_person(
        response(f"{BASE}/v0/persons/{person['id']}", body=json.dumps(person).encode()), character_id=1
    )
    voiced = json.loads((real / "v0_example_PersonCharacter.json").read_text(encoding="utf-8"))
    (item,) = spider.parse_person_characters(
        response(request.url, body=json.dumps(voiced).encode()), **request.cb_kwargs
    )
    assert item.names["ja"] == person["name"] and item.names["zh-Hans"] == "天乙准花"
    assert item.names["ja-Latn"] == "amaoto jyunka" and "JUNCA" in item.aliases
    assert item.roles == person["career"]
    # Chinese with the name's kana reading in parentheses: still Chinese.
    assert list(item.summaries) == ["zh-Hans"] and item.summaries["zh-Hans"].startswith("天乙 准花（あまおと")
    assert item.character_ids == list(dict.fromkeys(["1"] + [str(c["id"]) for c in voiced]))

    # The related-subject list is the shape of /v0/characters/{id}/persons' subject fields: ids read, nothing breaks.
    subjects = json.loads((real / "v0_example_RelatedSubject.json").read_text(encoding="utf-8"))
    character = {"id": 1, "name": "x"}
    out = list(spider.parse_character_persons(response(f"{BASE}/v0/characters/1/persons", body=json.dumps(subjects).encode()),
                                              character=character, work_id=5, page_url="u"))  # fmt: skip
    assert out[0].voice_actor_ids == list(dict.fromkeys(str(s["id"]) for s in subjects))
    assert not stats(spider).get("acg2vec/bad_input/bad-json")


# -- a whole crawl of the sample site -----------------------------------------------------------------------------


def _read_feed(raw: Path, kind: str) -> list[dict]:
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
        report = run_spider(
            "bangumi", workspace=Workspace.at(workdir), base_url=site.url_for("bangumi"), spider_args={"limit": 3},
            throttle=False, quiet=True, timeout=120,
        )  # fmt: skip
        world = site.world
        anime = world.anime[:3]
    finally:
        site.stop()
    raw = workdir / "raw" / "bangumi"
    works, characters, persons = (_read_feed(raw, k) for k in ("work", "character", "person"))
    assert report.finish_reason == "finished" and report.bad_input == {} and report.dropped == {}
    assert report.written == {"work": len(works), "character": len(characters), "person": len(persons)}
    assert sorted(int(w["source_id"]) for w in works) == sorted(w.bangumi_id for w in anime)
    by_id = {w.bangumi_id: w for w in anime}
    for row in works:
        expected = by_id[int(row["source_id"])]
        assert row["titles"]["ja"] == expected.titles["ja"] and row["titles"]["zh-Hans"] == expected.titles["zh-Hans"]
        assert row["character_ids"] == [str(c.bangumi_id) for c in world.characters_of(expected)]
    character_ids = {c["source_id"] for c in characters}
    assert character_ids == {c for w in works for c in w["character_ids"]}
    for row in characters:
        assert row["voice_actor_ids"] == [
            str(world.voice_actor_of(world.by_bangumi_character[int(row["source_id"])]).bangumi_id)
        ]
    person_ids = {p["source_id"] for p in persons}
    assert person_ids == {p for c in characters for p in c["voice_actor_ids"]}
    assert all(set(c["work_ids"]) & {w["source_id"] for w in works} for c in characters)
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["items"] == report.written


def _expected_ids(world, works: int) -> dict[str, set[str]]:  # noqa: ANN001 - the sample site's World
    anime = world.anime[:works]
    characters = [c for w in anime for c in world.characters_of(w)]
    return {
        "work": {str(w.bangumi_id) for w in anime},
        "character": {str(c.bangumi_id) for c in characters},
        "person": {str(world.voice_actor_of(c).bangumi_id) for c in characters},
    }


@pytest.mark.integration
def test_crawl_through_every_fault_mode_loses_nothing(workdir: Path) -> None:
    from acg2vec.crawlers.runner import run_spider
    from acg2vec.sample_site.faults import FaultPlan
    from acg2vec.sample_site.server import start_sample_site
    from acg2vec.workspace import Workspace

    # Every third URL fails once in each way (429 with Retry-After, a 5xx, a cut connection, cut JSON, an HTML
    # error page with status 200) before it answers, then answers slowly. Retry-After 0: the wait itself is the
    # middleware tests' business; here what counts is that nothing is lost.
    plan = FaultPlan(rate_limit=1, server_error=1, truncated=1, cut_json=1, html_error=1, slow=1, slow_seconds=0.1,
                     retry_after=0, every=3, sites=("bangumi",))  # fmt: skip
    site = start_sample_site(seed=0, posts=10, faults=plan)
    try:
        report = run_spider(
            "bangumi", workspace=Workspace.at(workdir), base_url=site.url_for("bangumi"), spider_args={"limit": 2},
            throttle=False, quiet=True, timeout=300,
        )  # fmt: skip
        injected = dict(site.faults.injected)
        expected = _expected_ids(site.world, 2)
    finally:
        site.stop()
    assert set(injected) >= {"rate_limit", "server_error", "truncated", "cut_json", "html_error"}
    raw = workdir / "raw" / "bangumi"
    for kind, ids in expected.items():
        rows = _read_feed(raw, kind)
        assert sorted(r["source_id"] for r in rows) == sorted(ids), kind
    assert report.bad_input == {} and report.dropped == {} and report.retries > 0


@pytest.mark.integration
@pytest.mark.slow
def test_stop_and_resume_neither_duplicates_nor_loses_items(workdir: Path) -> None:
    import time

    from acg2vec.crawlers.runner import run_spider, start_spider
    from acg2vec.sample_site.faults import FaultPlan
    from acg2vec.sample_site.server import start_sample_site
    from acg2vec.workspace import Workspace

    ws = Workspace.at(workdir)
    # Slow answers and two requests at a time, so the crawl is still under way when it is stopped.
    site = start_sample_site(seed=0, posts=10, faults=FaultPlan(slow=1, slow_seconds=0.15, sites=("bangumi",)))
    options = {
        "workspace": ws, "base_url": site.url_for("bangumi"), "spider_args": {"limit": 6}, "throttle": False,
        "quiet": True, "settings": {"CONCURRENT_REQUESTS_PER_DOMAIN": 2, "CONCURRENT_REQUESTS": 2},
    }  # fmt: skip
    try:
        handle = start_spider("bangumi", **options)
        time.sleep(4.0)
        handle.stop()
        first = handle.wait(timeout=120)
        assert first.finish_reason == "shutdown", "the crawl ended before it was stopped; slow it down further"
        assert (workdir / "jobs" / "bangumi").is_dir()
        second = run_spider("bangumi", timeout=300, **options)
        expected = _expected_ids(site.world, 6)
    finally:
        site.stop()
    assert second.finish_reason == "finished"
    raw = workdir / "raw" / "bangumi"
    for kind, ids in expected.items():
        got = [r["source_id"] for r in _read_feed(raw, kind)]
        assert len(got) == len(set(got)), f"duplicated {kind} items"
        assert set(got) == ids, f"{kind}: missing {sorted(ids - set(got))}"
    assert sum(first.written.values()) > 0 and sum(second.written.values()) > 0
    assert not (workdir / "jobs" / "bangumi").exists()


@pytest.mark.integration
def test_cli_crawls_the_sample_site_and_prints_the_counts(workdir: Path, sample_site) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    from acg2vec.cli import app

    args = [
        "--quiet",
        "crawl",
        "bangumi",
        "--base-url",
        sample_site.url_for("bangumi"),
        "--limit",
        "1",
        "--no-throttle",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    work = sample_site.world.anime[0]
    cast = sample_site.world.characters_of(work)
    assert table_row(result.output, "written", "work") == "1"
    assert table_row(result.output, "written", "character") == str(len(cast))
    assert table_row(result.output, "written", "person") == str(len({c.voice_actor_index for c in cast}))
    assert "bad input" not in result.output


@pytest.mark.integration
def test_cli_refuses_a_negative_limit(workdir: Path) -> None:
    from typer.testing import CliRunner

    from acg2vec.cli import app

    result = CliRunner().invoke(app, ["crawl", "bangumi", "--limit", "-1"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # refused by the option's range
    assert "--limit" in result.output and "greater than or equal to 0" in result.output


def table_row(output: str, label: str, what: str) -> str | None:
    """The count in the row ``label | what | n`` of the crawl report table the CLI prints."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells[:2] == [label, what]:
            return cells[2]
    return None


@pytest.mark.unit
def test_without_characters_the_works_come_straight_from_the_browse_page() -> None:
    spider = make_spider(characters=False)
    out = list(spider.parse_browse(response(spider.browse_url(0), "subjects_page.json"), offset=0))
    assert isinstance(out[0], Work) and out[0].source_id == "101" and out[0].character_ids == []
    assert [r.url for r in out[1:]] == [f"{BASE}/v0/subjects?type=2&limit=50&offset=2"]


# -- summary languages and air dates from the infobox ------------------------------------------------------------

# An Archive subject line of the real shape: infobox as wiki text with \r\n, no "date", a Japanese blurb.
ARCHIVE_LINE = {
    "id": 9912,
    "type": 2,
    "name": "けいおん!",
    "name_cn": "轻音少女",
    "infobox": "{{Infobox animanga/TVAnime\r\n|中文名= 轻音少女\r\n|别名={\r\n[K-ON!]\r\n}\r\n"
    "|话数= 12\r\n|放送开始= 2009年4月2日\r\n|放送星期= 星期四\r\n}}",
    "platform": 1,
    "summary": "桜が丘高校に入学した平沢唯は、廃部寸前の軽音部に入部することに。\r\nギターも弾けない唯の高校生活が始まる。",
    "nsfw": False,
    "tags": [{"name": "京都动画", "count": 5000}],
    "score": 7.9,
    "rank": 300,
}


@pytest.mark.unit
def test_summaries_are_stored_under_their_detected_language() -> None:
    work = work_from_subject({**ARCHIVE_LINE, "infobox": parse_wiki_infobox(ARCHIVE_LINE["infobox"])}, url="u")
    assert list(work.summaries) == ["ja"] and work.summaries["ja"].startswith("桜が丘高校に入学した")
    assert "\r" not in work.summaries["ja"]
    chinese = work_from_subject(
        {"id": 1, "name": "x", "summary": "讲述了少女们组建乐队的故事，改编自漫画《けいおん!》。"}, url="u"
    )
    assert list(chinese.summaries) == ["zh-Hans"]


@pytest.mark.unit
def test_air_date_falls_back_to_the_infobox() -> None:
    subject = {**ARCHIVE_LINE, "infobox": parse_wiki_infobox(ARCHIVE_LINE["infobox"])}
    assert work_from_subject(subject, url="u").air_date == "2009-04-02"
    # The subject's own date wins; an empty one falls back.
    assert air_date({**subject, "date": "2009-04-03"}) == "2009-04-03"
    assert air_date({**subject, "date": ""}) == "2009-04-02"
    film = {"infobox": [{"key": "上映年度", "value": "2011年12月3日"}, {"key": "发售日", "value": "2012-07-18"}]}
    assert air_date(film) == "2011-12-03"
    book = {"infobox": [{"key": "开始", "value": "2007年5月号"}]}
    assert air_date(book) == "2007-05"
    assert air_date({"infobox": [{"key": "发行日期", "value": "未定"}]}) is None


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("2010年4月2日", "2010-04-02"),
        ("2010年4月2日（金）", "2010-04-02"),
        ("2010-04-02", "2010-04-02"),
        ("2010/4/2", "2010-04-02"),
        ("2010.04.02", "2010-04-02"),
        ("2010年4月", "2010-04"),
        ("2010-04", "2010-04"),
        ("2010年", "2010"),
        ("2010", "2010"),
        ("2010年13月", "2010"),
        ("第2期", None),
        ("", None),
    ],
)
def test_parse_date(text: str, date: str | None) -> None:
    assert parse_date(text) == date
