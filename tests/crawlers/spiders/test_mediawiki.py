"""The shared MediaWiki Action API spider (driven through Wikipedia en): walking, pages, skips, real captures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from acg2vec.crawlers.items import Section, Work
from acg2vec.crawlers.spiders.mediawiki import read_parse_response, split_list
from acg2vec.crawlers.spiders.wikipedia import WikipediaSpider

FIXTURES = Path(__file__).parents[1] / "fixtures" / "mediawiki"
BASE = "http://127.0.0.1:8000/wikipedia/en"
API = f"{BASE}/w/api.php"


def make_spider(**kwargs: object) -> WikipediaSpider:
    crawler = get_crawler(WikipediaSpider, {})
    return crawler._create_spider(lang="en", base_url=BASE, **kwargs)


def response(url: str, name: str | None = None, *, body: bytes | None = None) -> TextResponse:
    body = (FIXTURES / name).read_bytes() if body is None else body
    return TextResponse(url=url, body=body, encoding="utf-8", request=Request(url))


def query(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    return {k: v[0] for k, v in parse_qs(parts.query).items()} | {"_path": parts.path}


def start_urls(spider: WikipediaSpider) -> list[str]:
    async def collect() -> list[str]:
        return [r.url async for r in spider.start()]

    return asyncio.run(collect())


def stats(spider: WikipediaSpider) -> dict:
    return spider.crawler.stats.get_stats()


@pytest.mark.unit
def test_start_requests_join_the_api_path_onto_a_prefixed_base() -> None:
    spider = make_spider(
        category="Anime series", title="Star Traveller|Template:Foo", list_page="List of anime series"
    )
    urls = start_urls(spider)
    assert [query(u) for u in urls] == [
        {"_path": "/wikipedia/en/w/api.php", "action": "parse", "page": "Star Traveller",
         "prop": "wikitext|langlinks|categories|properties", "redirects": "1", "format": "json", "formatversion": "2"},
        {"_path": "/wikipedia/en/w/api.php", "action": "query", "prop": "links", "titles": "List of anime series",
         "pllimit": "max", "format": "json", "formatversion": "2"},
        {"_path": "/wikipedia/en/w/api.php", "action": "query", "list": "categorymembers", "cmtitle": "Category:Anime series",
         "cmlimit": "50", "format": "json", "formatversion": "2"},
    ]  # fmt: skip
    assert stats(spider)["acg2vec/bad_input/namespace"] == 1  # Template:Foo


@pytest.mark.unit
def test_default_category_when_nothing_is_given() -> None:
    (url,) = start_urls(make_spider())
    assert query(url)["cmtitle"] == "Category:Anime television series"


@pytest.mark.unit
def test_category_listing_follows_pages_and_continue_token_and_counts_skips() -> None:
    spider = make_spider(category="Anime series")
    url = spider.category_request("Anime series", depth=0).url
    out = list(
        spider.parse_category(response(url, "categorymembers_page1.json"), category="Category:Anime series", depth=0)
    )
    assert [query(r.url).get("page") for r in out] == ["Star Traveller", "Star Traveller (disambiguation)", None]
    assert query(out[-1].url)["cmcontinue"] == "page|4b4f|1234"
    assert query(out[-1].url)["cmtitle"] == "Category:Anime series"
    assert stats(spider)["acg2vec/bad_input/subcategory-beyond-depth"] == 1
    assert stats(spider)["acg2vec/bad_input/namespace"] == 1
    last = list(
        spider.parse_category(
            response(out[-1].url, "categorymembers_page2.json"), category="Category:Anime series", depth=0
        )
    )
    assert [query(r.url)["page"] for r in last] == ["Snow Day"]


@pytest.mark.unit
def test_subcategories_are_walked_to_the_given_depth_and_the_limit_holds() -> None:
    spider = make_spider(depth=1, limit=1)
    url = spider.category_request("Anime series", depth=1).url
    out = list(
        spider.parse_category(response(url, "categorymembers_page1.json"), category="Category:Anime series", depth=1)
    )
    assert [(query(r.url).get("page"), query(r.url).get("cmtitle")) for r in out] == [
        ("Star Traveller", None),
        (None, "Category:Star Traveller characters"),
    ]  # the limit of one page: no second page, no continue request


@pytest.mark.unit
def test_list_page_links_become_page_requests() -> None:
    spider = make_spider()
    out = list(spider.parse_links(response(API, "links.json"), page="List of anime series"))
    assert [query(r.url)["page"] for r in out] == ["Star Traveller", "Snow Day"]
    assert stats(spider)["acg2vec/bad_input/namespace"] == 1


@pytest.mark.unit
def test_work_page_yields_sections_and_a_work() -> None:
    spider = make_spider()
    url = spider.page_request("Star Traveller").url
    items = list(spider.parse_page(response(url, "parse_work.json")))
    sections = [i for i in items if isinstance(i, Section)]
    assert [(s.heading_path, s.text) for s in sections] == [
        ([], "Star Traveller (Japanese: 星の旅人) is a 2020 Japanese anime television series by an example studio."),
        (["Plot"], "A girl and her robot travel to find a star."),
        (["Plot", "Setting"], "The story is set in a desert world."),
    ]
    first = sections[0]
    assert first.source == "wikipedia" and first.language == "en" and first.source_id == "en:Star Traveller#0"
    assert first.url == f"{BASE}/wiki/Star_Traveller" and first.page_id == "11"
    assert first.langlinks == {"ja": "星の旅人", "zh": "星之旅人"}  # fr is not kept
    assert first.categories == ["2020 anime television series debuts"]  # hidden categories left out
    (work,) = [i for i in items if isinstance(i, Work)]
    assert work.titles == {"en": "Star Traveller", "ja": "星の旅人", "zh-Hans": "星之旅人"}
    assert work.ids == {
        "wiki:en": "Star Traveller",
        "wiki:ja": "星の旅人",
        "wiki:zh": "星之旅人",
        "wikidata": "Q100000001",
    }
    assert work.summaries == {"en": first.text} and work.source_id == "en:Star Traveller"
    assert work.type == "anime"  # from Infobox animanga/Video, the header box tells no medium
    assert stats(spider)["acg2vec/sections/boilerplate"] == 1  # References
    assert stats(spider)["acg2vec/sections/empty"] == 1  # Media: only a table


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "reason"),
    [("parse_disambiguation.json", "disambiguation"), ("parse_missing.json", "api-error-missingtitle")],
)
def test_disambiguation_and_error_pages_are_skipped_with_a_reason(name: str, reason: str) -> None:
    spider = make_spider()
    assert list(spider.parse_page(response(spider.page_request("X").url, name))) == []
    assert stats(spider)[f"acg2vec/bad_input/{reason}"] == 1


@pytest.mark.unit
def test_disambiguation_template_alone_is_enough() -> None:
    data = {"parse": {"title": "Foo", "pageid": 1, "wikitext": "Foo may be:\n* a\n{{Disambig}}", "properties": {}}}
    spider = make_spider()
    assert list(spider.parse_page(response(API, body=json.dumps(data).encode()))) == []
    assert stats(spider)["acg2vec/bad_input/disambiguation"] == 1


@pytest.mark.unit
def test_read_parse_response_accepts_formatversion_1() -> None:
    data = {"parse": {"title": "Foo", "pageid": 3, "wikitext": {"*": "text"}, "langlinks": [{"lang": "ja", "*": "フー"}],
                      "categories": [{"sortkey": "", "*": "Bar_baz"}, {"*": "Hidden", "hidden": ""}],
                      "properties": [{"name": "wikibase_item", "*": "Q1"}]}}  # fmt: skip
    page = read_parse_response(data)
    assert (page.wikitext, page.langlinks, page.categories, page.properties) == (
        "text",
        {"ja": "フー"},
        ["Bar baz"],
        {"wikibase_item": "Q1"},
    )
    with pytest.raises(ValueError, match="no-parse-result"):
        read_parse_response({"batchcomplete": True})


@pytest.mark.unit
def test_split_list() -> None:
    assert split_list("a、b，c, d/e\nf") == ["a", "b", "c", "d", "e", "f"]
    assert split_list(None) == []


@pytest.mark.unit
def test_real_mediawiki_captures(shared_fixtures: Path) -> None:
    real = shared_fixtures / "mediawiki"
    spider = make_spider()
    parse = json.loads((real / "wptools_parse.json").read_text(encoding="utf-8"))
    items = list(spider.parse_page(response(API, body=json.dumps(parse["response"]).encode())))
    assert all(isinstance(i, Section) for i in items)  # a biography: no work infobox
    assert items[0].title == "Douglas Adams" and items[0].page_id == "8091" and items[0].heading_path == []
    assert items[0].text.startswith("Douglas Noel Adams")
    assert len(items) > 10 and all(i.text and "{{" not in i.text for i in items)

    # action=query with prop=links (the same response shape the list-page walk reads).
    q = json.loads((real / "wptools_query.json").read_text(encoding="utf-8"))
    links = q["response"]["query"]["pages"][0]["links"]
    out = list(spider.parse_links(response(API, body=json.dumps(q["response"]).encode()), page="Douglas Adams"))
    assert [query(r.url)["page"] for r in out] == [link["title"] for link in links if link["ns"] == 0]

    # siteinfo is no category listing: counted as such, nothing followed.
    site = json.loads((real / "wptools_siteinfo.json").read_text(encoding="utf-8"))
    assert (
        list(spider.parse_category(response(API, body=json.dumps(site["response"]).encode()), category="x", depth=0))
        == []
    )
    assert stats(spider)["acg2vec/bad_input/bad-category-listing"] == 1


@pytest.mark.unit
def test_maxlag_error_is_retried_not_dropped() -> None:
    spider = make_spider()
    url = spider.page_request("Star Traveller").url
    body = json.dumps({"error": {"code": "maxlag", "info": "Waiting for a database server: 6 seconds lagged."}})
    (retry,) = spider.parse_page(response(url, body=body.encode()))
    assert retry.url == url and retry.meta["acg2vec_page_retries"] == 1
    assert "acg2vec/bad_input/api-error-maxlag" not in stats(spider)


@pytest.mark.unit
def test_malformed_members_and_links_are_counted_not_fatal() -> None:
    spider = make_spider()
    listing = {"query": {"categorymembers": ["oops", {"ns": 0}, {"ns": 0, "title": "Fine"}]}}
    out = list(spider.parse_category(response(API, body=json.dumps(listing).encode()), category="Category:X", depth=0))
    assert [query(r.url)["page"] for r in out] == ["Fine"]
    assert stats(spider)["acg2vec/bad_input/bad-category-member"] == 2
    links = {"query": {"pages": [{"title": "L", "links": [7, {"ns": 0, "title": "Fine too"}]}]}}
    out = list(spider.parse_links(response(API, body=json.dumps(links).encode()), page="L"))
    assert [query(r.url)["page"] for r in out] == ["Fine too"]
    assert stats(spider)["acg2vec/bad_input/bad-link"] == 1


# A zh Wikipedia work page of the real shape: {{Infobox animanga/Headerofja}} with the Japanese title,
# {{Infobox animanga/name}} with the official translations (a note on who uses each), the inline templates.
ZH_WORK = """{{NoteTA|G1=Anime}}
{{Infobox animanga/Headerofja
| 標題 = 忍者與殺手的同住日常
| 日文名稱 = 忍者と殺し屋のふたりぐらし
| 羅馬字 = Ninja to Koroshiya no Futarigurashi
}}
{{Infobox animanga/name
| 正式譯名 = 忍者與殺手的同住日常（台灣角川）<br />忍者與殺手的兩人生活（回歸線娛樂）
}}
{{Infobox animanga/Manga
| 作者 = {{tsl|ja|ハンバーガー (漫画家)|漢堡 (漫畫家)|漢堡}}
| 連載雜誌 = {{tsl|ja|コミック電撃だいおうじ|漫畫電擊大王}}
}}
{{Infobox animanga/Footerofja}}

{{日本作品|忍者與殺手的同住日常|忍者と殺し屋のふたりぐらし}}，简称「忍殺」（{{lang|ja|にんころ}}），是{{tsl|ja|ハンバーガー (漫画家)|漢堡 (漫畫家)|漢堡}}創作的[[日本漫畫]]作品，於Vol.90起在雜誌《{{tsl|ja|コミック電撃だいおうじ|漫畫電擊大王}}》上連載<ref>{{Cite web|url=https://natalie.mu/comic/news/417956|title=x}}</ref>。
== 登場人物 ==
; {{nihongo|草隱小鳩|草隠このは}}
: 忍者。
"""


@pytest.mark.unit
def test_zh_work_page_keeps_inline_names_and_official_translations_as_aliases() -> None:
    spider = WikipediaSpider.from_crawler(
        get_crawler(WikipediaSpider, {}), lang="zh", base_url="http://127.0.0.1:8000/wikipedia/zh"
    )
    url = spider.page_request("忍者與殺手的同住日常").url
    body = {"parse": {"title": "忍者與殺手的同住日常", "pageid": 9039014, "wikitext": ZH_WORK, "langlinks": [],
                      "categories": [], "properties": {}}}  # fmt: skip
    items = list(spider.parse_page(response(url, body=json.dumps(body, ensure_ascii=False).encode())))
    intro, characters = [i for i in items if isinstance(i, Section)]
    assert intro.text == (
        "忍者與殺手的同住日常（忍者と殺し屋のふたりぐらし），简称「忍殺」（にんころ），"
        "是漢堡創作的日本漫畫作品，於Vol.90起在雜誌《漫畫電擊大王》上連載。"
    )
    assert characters.text == "草隱小鳩（草隠このは）\n忍者。"
    (work,) = [i for i in items if isinstance(i, Work)]
    assert work.titles == {"zh-Hans": "忍者與殺手的同住日常", "ja": "忍者と殺し屋のふたりぐらし"}
    # The first official translation is the page title itself: not another name.
    assert work.aliases == ["忍者與殺手的兩人生活", "忍殺"]
    assert work.type == "manga"
