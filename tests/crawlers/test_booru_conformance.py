"""The booru parsers on real captures of the sites' formats (../shared/fixtures/real/booru)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from acg2vec.crawlers.items import RATINGS, TAG_CATEGORIES, Post, Tag, item_from_dict, item_to_dict
from acg2vec.crawlers.pipelines import sanity_problem
from acg2vec.crawlers.spiders.booru import read_records
from acg2vec.crawlers.spiders.safebooru import SafebooruSpider

pytestmark = pytest.mark.unit


def make_spider() -> SafebooruSpider:
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
    spider = make_spider()
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
    spider = make_spider()
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
    spider = make_spider()
    posts = [spider.post_from_record(r, as_response(body)) for r in read_records(body, element="post")]
    assert [p.id for p in posts] == [r["id"] for r in raw]
    for post, record in zip(posts, raw, strict=True):
        check_post(post)
        assert post.created_at is not None  # from {"s": unix seconds, ...}
        assert post.tags == record["tags"].split()


def test_danbooru_tag_list_json(shared_fixtures):
    body = (shared_fixtures / "booru" / "danbooru_tags.json").read_bytes()
    raw = json.loads(body)
    spider = make_spider()
    tags = list(spider.parse_tags(as_response(body)))
    assert [t.name for t in tags] == [r["name"] for r in raw]
    assert all(isinstance(t, Tag) and t.count == r["post_count"] for t, r in zip(tags, raw, strict=True))
    known = {0: "general", 1: "artist", 3: "copyright", 4: "character", 5: "meta"}
    assert [t.category for t in tags] == [known.get(r["category"]) for r in raw]
