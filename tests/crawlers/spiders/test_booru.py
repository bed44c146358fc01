"""The Gelbooru-0.2 DAPI parsers on hand-made responses: exact items and follow-up requests."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from acg2vec.crawlers.items import RATINGS, TAG_CATEGORIES, Post, Tag, item_from_dict, item_to_dict
from acg2vec.crawlers.middlewares import DELAY_META
from acg2vec.crawlers.pipelines import sanity_problem
from acg2vec.crawlers.spiders.apibase import PAGE_RETRIES_META
from acg2vec.crawlers.spiders.booru import NotReadable, read_records
from acg2vec.crawlers.spiders.safebooru import SafebooruSpider

FIXTURES = Path(__file__).parents[1] / "fixtures" / "booru"


BASE = "http://127.0.0.1:8000/sb"


pytestmark = pytest.mark.unit


def make_spider(**kwargs) -> SafebooruSpider:
    crawler = get_crawler(SafebooruSpider, {"ACG2VEC_BACKOFF_BASE": 0.5})
    return SafebooruSpider.from_crawler(crawler, base_url=BASE, **kwargs)


def response_for(url: str, name: str | None = None, body: bytes | None = None) -> TextResponse:
    if body is None:
        body = (FIXTURES / name).read_bytes()
    return TextResponse(url=url, body=body, encoding="utf-8", request=Request(url))


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def split(results: list) -> tuple[list, list[Request]]:
    return [r for r in results if not isinstance(r, Request)], [r for r in results if isinstance(r, Request)]


def test_posts_url_walks_an_id_cursor_under_the_base_path():
    spider = make_spider(tags="1girl  solo", min_id=100, page_size=50)
    url = spider.posts_url(5001)
    assert url.startswith(BASE + "/index.php?")
    assert query(url) == {
        "page": "dapi",
        "s": "post",
        "q": "index",
        "limit": "50",
        "tags": "1girl solo id:<5001 id:>=100 sort:id:desc",
        "json": "1",
    }
    assert "json" not in query(make_spider(format="xml").posts_url(None))
    assert query(make_spider().posts_url(None))["tags"] == "sort:id:desc"


def test_json_page_gives_exact_posts_tag_lookups_and_the_next_cursor():
    spider = make_spider()
    url = spider.posts_url(None)
    items, requests = split(list(spider.parse_posts(response_for(url, "safebooru_posts.json"))))
    assert [type(i) for i in items] == [Post, Post, Post]
    first, second, third = items
    assert (first.id, first.source, first.source_id) == (5003, "safebooru", "5003")
    assert first.url == BASE + "/index.php?page=post&s=view&id=5003"
    assert first.md5 == "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    assert first.tags == ["1girl", "solo", "smile"]
    assert first.rating == "general"
    assert first.score is None  # null score
    assert (first.width, first.height) == (1200, 1600)
    # Escaped slashes are plain slashes once parsed.
    assert first.file_url == "https://safebooru.example/images/12/0a1b2c3d4e5f60718293a4b5c6d7e8f9.png"
    assert first.sample_url == "https://safebooru.example/samples/12/sample_0a1b2c3d4e5f60718293a4b5c6d7e8f9.jpg"
    assert first.parent_id is None  # 0 means no parent
    assert first.changed_at == "2023-11-14T22:13:20+00:00"
    assert first.source_url is None and first.status == "active"

    # No URLs given: built from directory + image under the base URL; rating letter "s" of the old scheme = general.
    assert second.file_url == BASE + "/images/7/ffeeddccbbaa99887766554433221100.jpg"
    assert second.sample_url is None
    assert second.preview_url == BASE + "/thumbnails/7/thumbnail_ffeeddccbbaa99887766554433221100.jpg"
    assert (second.rating, second.score, second.source_url) == ("general", 4, "https://example.org/art/1")

    # Numbers as strings, an upper-case md5, a protocol-relative URL, a capitalised rating word.
    assert (third.id, third.width, third.score, third.parent_id) == (5001, 300, 7, 5000)
    assert third.md5 == "1234567890abcdef1234567890abcdef"
    assert third.file_url == "http://safebooru.example/images/1/1234567890abcdef1234567890abcdef.jpeg"
    assert third.rating == "questionable"

    # The record without an id is dropped with a named reason.
    assert spider.crawler.stats.get_value("acg2vec/bad_input/post-without-id") == 1

    tag_requests = [r for r in requests if query(r.url)["s"] == "tag"]
    assert [query(r.url)["names"] for r in tag_requests] == ["1girl solo smile landscape no_humans 2girls hug"]
    (next_page,) = [r for r in requests if query(r.url)["s"] == "post"]
    assert query(next_page.url)["tags"] == "id:<5001 sort:id:desc"
    assert next_page.callback == spider.parse_posts


def test_tags_already_looked_up_are_not_asked_again():
    spider = make_spider()
    url = spider.posts_url(None)
    list(spider.parse_posts(response_for(url, "safebooru_posts.json")))
    _, requests = split(list(spider.parse_posts(response_for(url, "safebooru_posts.json"))))
    assert [query(r.url)["s"] for r in requests] == ["post"]


def test_xml_page_parses_like_json():
    spider = make_spider(format="xml")
    items, requests = split(list(spider.parse_posts(response_for(spider.posts_url(None), "safebooru_posts.xml"))))
    assert [p.id for p in items] == [5003, 5002]
    assert items[0].created_at == "2023-11-14T22:13:20+00:00"
    assert items[0].score is None  # an empty score attribute
    assert [p.rating for p in items] == ["general", "explicit"]
    assert query([r for r in requests if query(r.url)["s"] == "post"][0].url)["tags"] == "id:<5002 sort:id:desc"


@pytest.mark.parametrize("body", [b"", b"  \n", b"[]", b'<?xml version="1.0"?><posts count="0" offset="0"></posts>'])
def test_a_blank_or_empty_page_ends_the_walk(body):
    spider = make_spider()
    assert list(spider.parse_posts(response_for(spider.posts_url(10), body=body))) == []
    assert spider.crawler.stats.get_stats() == {}


def test_limit_trims_the_page_and_stops_the_walk():
    spider = make_spider(limit=2)
    items, requests = split(list(spider.parse_posts(response_for(spider.posts_url(None), "safebooru_posts.json"))))
    assert [p.id for p in items] == [5003, 5002]
    assert [query(r.url)["s"] for r in requests] == ["tag"]


def test_min_id_stops_the_walk_at_the_bound():
    spider = make_spider(min_id=5001)
    _, requests = split(list(spider.parse_posts(response_for(spider.posts_url(None), "safebooru_posts.json"))))
    assert [query(r.url)["s"] for r in requests] == ["tag"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [("error_page.html", "html-instead-of-data"), ("truncated_posts.json", "bad-json")],
)
def test_unreadable_page_is_retried_with_backoff_then_dead_lettered(name, reason):
    spider = make_spider(page_retries=2)
    response = response_for(spider.posts_url(None), name)
    for attempt in (1, 2):
        (retry,) = list(spider.parse_posts(response))
        assert retry.url == response.url and retry.dont_filter
        assert retry.meta[PAGE_RETRIES_META] == attempt
        assert 0 < retry.meta[DELAY_META] <= 0.5 * 2 ** (attempt - 1)
        response = TextResponse(url=retry.url, body=response.body, encoding="utf-8", request=retry)
    assert list(spider.parse_posts(response)) == []
    assert spider.crawler.stats.get_value(f"acg2vec/bad_input/{reason}") == 1
    assert spider.crawler.stats.get_value(f"acg2vec/page_retries/{reason}") == 2


def test_tag_list_gives_categories_and_drops_nameless_tags():
    spider = make_spider()
    url = spider.tag_names_url(["1girl", "hatsune_miku"])
    items = list(spider.parse_tags(response_for(url, "safebooru_tags.xml")))
    assert items == [
        Tag(source="safebooru", source_id="1girl", url=url, fetched_at=items[0].fetched_at, name="1girl",
            category="general", count=1520334),
        Tag(source="safebooru", source_id="hatsune_miku", url=url, fetched_at=items[1].fetched_at,
            name="hatsune_miku", category="character", count=1200),
        Tag(source="safebooru", source_id="vocaloid", url=url, fetched_at=items[2].fetched_at, name="vocaloid",
            category="copyright", count=98000),
        Tag(source="safebooru", source_id="artist_b", url=url, fetched_at=items[3].fetched_at, name="artist_b",
            category="artist", count=12),
        Tag(source="safebooru", source_id="highres", url=url, fetched_at=items[4].fetched_at, name="highres",
            category="meta", count=300),
    ]  # fmt: skip
    assert spider.crawler.stats.get_value("acg2vec/bad_input/tag-without-name") == 1


def test_whole_tag_list_walks_by_after_id():
    spider = make_spider(tag_list="all")
    url = spider.tag_list_url(0)
    assert query(url)["after_id"] == "0"
    items, requests = split(list(spider.parse_tag_list(response_for(url, "safebooru_tags.xml"))))
    assert len(items) == 5
    (follow,) = requests
    assert query(follow.url)["after_id"] == "9001"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not data at all", "not-json-or-xml"),
        (b'{"a": 1', "bad-json"),
        (b"<posts><post id='1'", "bad-xml"),
        (b'<?xml version="1.0"?><response success="false" reason="search down"/>', "api-error"),
        (b"<html><body>oops</body></html>", "html-instead-of-data"),
    ],
)
def test_read_records_names_what_is_wrong(body, reason):
    with pytest.raises(NotReadable) as err:
        read_records(body, element="post")
    assert err.value.reason == reason


def test_read_records_accepts_the_wrapped_json_of_newer_gelbooru():
    body = b'{"@attributes": {"limit": 100, "offset": 0, "count": 1}, "post": [{"id": 7, "tags": "a"}]}'
    assert read_records(body, element="post") == [{"id": 7, "tags": "a"}]
    assert read_records(b'{"@attributes": {"count": 0}}', element="post") == []


def test_a_site_ignoring_the_cursor_does_not_loop_forever():
    spider = make_spider()
    url = spider.posts_url(5001)  # the answer holds 5003 .. 5001, none below the cursor
    items, requests = split(list(spider.parse_posts(response_for(url, "safebooru_posts.json"), cursor=5001)))
    assert [query(r.url)["s"] for r in requests] == ["tag"]
    assert spider.crawler.stats.get_value("acg2vec/bad_input/cursor-not-advancing") == 1


def test_the_next_page_carries_its_cursor():
    spider = make_spider()
    _, requests = split(list(spider.parse_posts(response_for(spider.posts_url(None), "safebooru_posts.json"))))
    (next_page,) = [r for r in requests if query(r.url)["s"] == "post"]
    assert next_page.cb_kwargs == {"cursor": 5001}


def test_tag_lookups_stay_under_scrapys_url_length_limit():
    spider = make_spider()
    names = [f"very_long_tag_name_number_{i}_(some_series)" for i in range(150)]
    post = Post(source="safebooru", source_id="1", id=1, tags=names)
    requests = list(spider.tag_lookups([post]))
    assert len(requests) > 1
    assert all(len(r.url) <= 1800 for r in requests)
    assert [n for r in requests for n in query(r.url)["names"].split()] == names


def make_capture_spider() -> SafebooruSpider:
    return SafebooruSpider.from_crawler(get_crawler(SafebooruSpider), base_url="https://gelbooru.example")


def as_response(body: bytes) -> TextResponse:
    url = "https://gelbooru.example/index.php?page=dapi&s=post&q=index"
    return TextResponse(url=url, body=body, encoding="utf-8", request=Request(url))


def check_post(post: Post) -> None:
    assert item_from_dict(item_to_dict(post)) == post
    assert sanity_problem(post) is None
    assert re.fullmatch(r"[0-9a-f]{32}", post.md5)
    assert post.rating in RATINGS
    assert post.file_url.startswith("http")


def test_gelbooru_dapi_xml_page(shared_fixtures):
    body = (shared_fixtures / "booru" / "gelbooru_dapi_results.xml").read_bytes()
    raw = ET.fromstring(body).findall("post")
    spider = make_capture_spider()
    results = list(spider.parse_posts(as_response(body)))
    posts = [r for r in results if isinstance(r, Post)]
    assert [p.id for p in posts] == [int(p.get("id")) for p in raw]
    assert [p.tags for p in posts] == [p.get("tags").split() for p in raw]
    assert [p.md5 for p in posts] == [p.get("md5") for p in raw]
    for post in posts:
        check_post(post)
        assert post.created_at and post.changed_at
    # The page leads on down the id cursor.
    follow = [r for r in results if isinstance(r, Request) and "s=post" in r.url]
    assert f"id%3A%3C{min(p.id for p in posts)}" in follow[0].url


def test_danbooru_posts_json(shared_fixtures):
    body = (shared_fixtures / "booru" / "danbooru2_posts_search.json").read_bytes()
    raw = json.loads(body)
    spider = make_capture_spider()
    posts = [spider.post_from_record(r, as_response(body)) for r in read_records(body, element="post")]
    built = [p for p in posts if p is not None]
    # Danbooru hides md5 / file_url of some posts from anonymous users; every post with an id is still built.
    assert [p.id for p in built] == [r["id"] for r in raw]
    for post, record in zip(built, raw, strict=True):
        assert post.tags == record["tag_string"].split()
        assert (post.width, post.height) == (record["image_width"], record["image_height"])
        assert set(post.tag_categories.values()) <= set(TAG_CATEGORIES)
        for tag in record["tag_string_character"].split():
            assert post.tag_categories[tag] == "character"
        if record.get("md5") and record.get("file_url"):
            check_post(post)


def test_moebooru_posts_json(shared_fixtures):
    body = (shared_fixtures / "booru" / "moebooru_behoimi_results.json").read_bytes()
    raw = json.loads(body)
    spider = make_capture_spider()
    posts = [spider.post_from_record(r, as_response(body)) for r in read_records(body, element="post")]
    assert [p.id for p in posts] == [r["id"] for r in raw]
    for post, record in zip(posts, raw, strict=True):
        check_post(post)
        assert post.created_at is not None  # from {"s": unix seconds, ...}
        assert post.tags == record["tags"].split()


def test_danbooru_tag_list_json(shared_fixtures):
    body = (shared_fixtures / "booru" / "danbooru_tags.json").read_bytes()
    raw = json.loads(body)
    spider = make_capture_spider()
    tags = list(spider.parse_tags(as_response(body)))
    assert [t.name for t in tags] == [r["name"] for r in raw]
    assert all(isinstance(t, Tag) and t.count == r["post_count"] for t, r in zip(tags, raw, strict=True))
    known = {0: "general", 1: "artist", 3: "copyright", 4: "character", 5: "meta"}
    assert [t.category for t in tags] == [known.get(r["category"]) for r in raw]
