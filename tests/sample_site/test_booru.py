"""The sample site's world, illustrations, Safebooru and Bangumi endpoints, checked against real formats."""

from __future__ import annotations

import hashlib
import io
import json
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from acg2vec.crawlers.items import BOORU_TAG_TYPES
from tests.sample_site.client import dapi_url, fetch

SAFEBOORU_JSON_KEYS = [
    "preview_url", "sample_url", "file_url", "directory", "hash", "width", "height", "id", "image", "change",
    "owner", "parent_id", "rating", "sample", "sample_height", "sample_width", "score", "tags", "source",
    "status", "has_notes", "comment_count",
]  # fmt: skip


@pytest.mark.integration
def test_safebooru_json_is_the_real_format(sample_site):
    status, headers, body = fetch(dapi_url(sample_site, json=1, limit=100))
    assert status == 200 and "json" in headers["content-type"]
    text = body.decode()
    assert "\\/" in text and '":"http://' not in text  # slashes escaped as PHP does
    posts = json.loads(text)
    assert len(posts) == 100 and [p["id"] for p in posts] == sorted((p["id"] for p in posts), reverse=True)
    for post in posts:
        assert list(post) == SAFEBOORU_JSON_KEYS
        assert isinstance(post["directory"], int) and isinstance(post["sample"], bool)
        assert post["rating"] in ("general", "sensitive", "questionable", "explicit")
        assert post["image"] == f"{post['hash']}.{post['file_url'].rsplit('.', 1)[1]}"
        expected = sample_site.world.by_post_id[post["id"]]
        assert post["tags"].split() == expected.tags
    assert any(p["score"] is None for p in json.loads(fetch(dapi_url(sample_site, json=1, limit=300, pid=0))[2]))


@pytest.mark.integration
def test_safebooru_blank_body_past_the_last_page_and_too_deep(sample_site):
    status, _, body = fetch(dapi_url(sample_site, json=1, limit=100, tags="id:<0"))
    assert status == 200 and body == b""
    status, _, body = fetch(dapi_url(sample_site, limit=100, tags="id:<0"))
    root = ET.fromstring(body)
    assert root.tag == "posts" and root.get("count") == "0" and len(root) == 0
    status, _, body = fetch(dapi_url(sample_site, json=1, limit=100, pid=5))
    assert status == 200 and body.decode().startswith("Too deep!")


@pytest.mark.integration
def test_safebooru_id_cursor_walks_every_post_once(sample_site):
    seen: list[int] = []
    cursor = None
    for _ in range(20):
        tags = "sort:id:desc" + (f"+id:<{cursor}" if cursor else "")
        body = fetch(dapi_url(sample_site, json=1, limit=70, tags=tags))[2]
        if not body:
            break
        page = json.loads(body)
        seen += [p["id"] for p in page]
        cursor = page[-1]["id"]
    assert seen == sorted((p.id for p in sample_site.world.posts), reverse=True)
    ascending = json.loads(fetch(dapi_url(sample_site, json=1, limit=5, tags="id:>1010+sort:id:asc"))[2])
    assert [p["id"] for p in ascending] == sorted(p.id for p in sample_site.world.posts if p.id > 1010)[:5]


@pytest.mark.integration
def test_safebooru_tag_query_and_single_id(sample_site):
    world = sample_site.world
    posts = json.loads(fetch(dapi_url(sample_site, json=1, limit=1000, tags="red_background+-circle"))[2])
    expected = [p.id for p in reversed(world.posts) if "red_background" in p.tags and "circle" not in p.tags]
    assert [p["id"] for p in posts] == expected and expected
    explicit = json.loads(fetch(dapi_url(sample_site, json=1, limit=1000, tags="rating:explicit"))[2])
    assert {p["rating"] for p in explicit} == {"explicit"}
    one = world.posts[5]
    assert [p["id"] for p in json.loads(fetch(dapi_url(sample_site, json=1, id=one.id))[2])] == [one.id]


@pytest.mark.integration
def test_safebooru_xml_matches_the_real_capture(sample_site, shared_fixtures):
    real = ET.parse(shared_fixtures / "booru" / "gelbooru_dapi_results.xml").getroot()
    body = fetch(dapi_url(sample_site, limit=20))[2]
    ours = ET.fromstring(body)
    assert ours.tag == real.tag == "posts" and set(ours.attrib) == set(real.attrib)
    real_keys = set(real[0].attrib)
    for post in ours:
        assert set(post.attrib) == real_keys
        assert post.get("tags").startswith(" ") and post.get("tags").endswith(" ")
        assert post.get("has_children") in ("true", "false")


@pytest.mark.integration
def test_safebooru_files_match_their_md5(sample_site):
    posts = json.loads(fetch(dapi_url(sample_site, json=1, limit=200))[2])
    sampled = [p for p in posts if p["sample"]]
    assert sampled, "some posts are wider than the sample size"
    for post in posts[:25] + sampled[:3]:
        status, headers, data = fetch(post["file_url"])
        assert status == 200 and hashlib.md5(data).hexdigest() == post["hash"]
        assert headers["content-type"] == ("image/png" if post["image"].endswith(".png") else "image/jpeg")
    for post in sampled[:3]:
        status, headers, data = fetch(post["sample_url"])
        image = Image.open(io.BytesIO(data))
        assert status == 200 and image.format == "JPEG"
        assert image.size == (post["sample_width"], post["sample_height"])
    status, _, data = fetch(posts[0]["preview_url"])
    assert status == 200 and max(Image.open(io.BytesIO(data)).size) <= 150
    bad = posts[0]["file_url"].replace(posts[0]["hash"], "0" * 32)
    assert fetch(bad)[0] == 404


@pytest.mark.integration
def test_safebooru_tag_list_types_and_counts(sample_site):
    url = sample_site.url_for("safebooru") + "/index.php?page=dapi&s=tag&q=index&limit=1000"
    root = ET.fromstring(fetch(url)[2])
    assert root.tag == "tags"
    counts = sample_site.world.tag_counts()
    listed = {t.get("name"): (int(t.get("type")), int(t.get("count"))) for t in root}
    assert set(listed) == set(counts)
    for name, (type_number, count) in listed.items():
        assert BOORU_TAG_TYPES[type_number] == counts[name][0] and count == counts[name][1]
    assert {n for n, _ in listed.values()} == {0, 1, 3, 4, 5}
    page = ET.fromstring(fetch(url.replace("limit=1000", "limit=10&pid=1"))[2])
    assert [int(t.get("id")) for t in page] == list(range(11, 21))
