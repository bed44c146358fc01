"""The sample site's world, illustrations, Safebooru and Bangumi endpoints, checked against real formats."""

from __future__ import annotations

import hashlib
import io
import json
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from acg2vec.crawlers.items import BOORU_TAG_TYPES
from acg2vec.crawlers.sample_site import generate_world, start_sample_site
from acg2vec.crawlers.sample_site.conformance import shape_mismatches
from acg2vec.crawlers.sample_site.illustrations import ImageCache
from acg2vec.crawlers.sample_site.world import COLOURS, general_vocabulary

# The keys of Safebooru's JSON posts, in order (../shared/fixtures/real/INDEX.md).
SAFEBOORU_JSON_KEYS = [
    "preview_url", "sample_url", "file_url", "directory", "hash", "width", "height", "id", "image", "change",
    "owner", "parent_id", "rating", "sample", "sample_height", "sample_width", "score", "tags", "source",
    "status", "has_notes", "comment_count",
]  # fmt: skip


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: status, headers (lower-case names) and body, for error statuses too."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def get_json(url: str) -> object:
    status, _, body = fetch(url)
    assert status == 200, (url, status, body[:200])
    return json.loads(body)


# ---------------------------------------------------------------------------------------------- the world


@pytest.mark.unit
def test_world_is_deterministic_and_seed_dependent():
    a, b, c = generate_world(seed=3, posts=40), generate_world(seed=3, posts=40), generate_world(seed=4, posts=40)
    assert [w.titles for w in a.works] == [w.titles for w in b.works]
    assert [(p.id, p.tags, p.drawing) for p in a.posts] == [(p.id, p.tags, p.drawing) for p in b.posts]
    assert [w.titles for w in a.works] != [w.titles for w in c.works]
    # The number of posts does not change the works.
    assert [w.titles for w in generate_world(seed=3, posts=10).works] == [w.titles for w in a.works]


@pytest.mark.unit
def test_world_has_multilingual_works_characters_and_shared_voice_actors():
    world = generate_world(seed=0)
    assert 24 <= len(world.works) <= 60
    kinds = Counter(w.kind for w in world.works)
    assert kinds["anime"] > kinds["book"] + kinds["game"] > 0
    kana = re.compile(r"[\u3040-\u30ff]")
    titles_ja = [w.titles["ja"] for w in world.works]
    assert any(kana.search(t) for t in titles_ja) and any(not kana.search(t) for t in titles_ja)
    assert any("ガ" in t or "ド" in t for t in titles_ja)  # dakuten
    assert any("\uff21" <= ch <= "\uff3a" for t in titles_ja for ch in t)  # full-width Latin
    assert any("\uff66" <= ch <= "\uff9f" for w in world.works for a in w.aliases for ch in a)  # half-width kana
    for work in world.works:
        assert set(work.titles) == {"ja", "zh-Hans", "zh-Hant", "en", "ja-Latn"}
        assert set(work.summaries) == {"ja", "zh-Hans", "en"}
        assert all(len(s) >= 40 for s in work.summaries.values())
        assert 3 <= len(work.character_indexes) <= 6
        assert work.tags and work.bangumi_id in world.by_bangumi_subject
        assert (work.mal_id is not None) == (work.kind == "anime")
    assert len({w.bangumi_id for w in world.works}) == len(world.works)
    assert any(s != t for w in world.works for s, t in [(w.titles["zh-Hans"], w.titles["zh-Hant"])])
    voiced = Counter(c.voice_actor_index for c in world.characters)
    assert max(voiced.values()) >= 3  # one actor voices several characters
    for character in world.characters:
        assert set(character.names) == {"ja", "ja-Kana", "ja-Latn", "zh-Hans", "zh-Hant", "en"}


@pytest.mark.unit
def test_posts_have_the_promised_tag_statistics():
    world = generate_world(seed=0, posts=300)
    posts = world.posts
    assert len(posts) == 300
    assert len({p.id for p in posts}) == 300 and [p.id for p in posts] == sorted(p.id for p in posts)
    assert all(6 <= len(p.general_tags) <= 40 for p in posts)
    vocabulary = set(general_vocabulary())
    used = Counter(t for p in posts for t in p.general_tags)
    assert set(used) <= vocabulary and 30 <= len(used) <= 60
    assert min(used.values()) < 0.1 * len(posts)  # some tags are rare
    assert set(p.rating for p in posts) == {"general", "sensitive", "questionable", "explicit"}
    assert {p.ext for p in posts} == {"jpg", "png"}
    assert all(300 <= p.width <= 900 and 300 <= p.height <= 900 for p in posts)
    assert any(p.duplicate_of for p in posts) and any(p.parent_id for p in posts)
    assert any(p.score is None for p in posts)
    assert len(world.pixiv_posts) >= 5
    assert all(p.source == f"https://www.pixiv.net/artworks/{p.pixiv_id}" for p in world.pixiv_posts)
    drawn = [c for c in world.characters if c.booru_tag]
    assert len(drawn) >= 8 and len({c.glyph for c in drawn}) == len(drawn)
    for post in posts:
        assert len(post.artist_tags) == 1
        for tag in post.character_tags:
            character = next(c for c in drawn if c.booru_tag == tag)
            assert world.work_of(character).copyright_tag in post.copyright_tags


def _colour_fraction(image: np.ndarray, colour: tuple[int, int, int], box: tuple[int, int, int, int]) -> float:
    """Share of the pixels in ``box`` (left, top, right, bottom) close to ``colour``."""
    left, top, right, bottom = box
    region = image[top:bottom, left:right].astype(np.int32)
    distance = np.abs(region - np.array(colour, dtype=np.int32)).sum(axis=-1)
    return float((distance < 60).mean()) if distance.size else 0.0


@pytest.mark.unit
def test_tags_describe_the_pictures():
    world = generate_world(seed=0, posts=40)
    cache = ImageCache()
    for post in world.posts:
        rendition = cache.original(post)
        image = Image.open(io.BytesIO(rendition.data))
        assert image.format == ("PNG" if post.ext == "png" else "JPEG")
        assert image.size == (post.width, post.height)
        w, h = image.size
        image = np.asarray(image.convert("RGB"))
        corner = min(w, h) // 12
        background = next(t for t in post.general_tags if t.endswith("_background")).removesuffix("_background")
        corners = [
            (0, 0, corner, corner),
            (w - corner, 0, w, corner),
            (0, h - corner, corner, h),
            (w - corner, h - corner, w, h),
        ]
        assert min(_colour_fraction(image, COLOURS[background], box) for box in corners) > 0.8, post.id
        inner = (int(w * 0.15), int(h * 0.15), int(w * 0.85), int(h * 0.85))
        for tag in post.general_tags:
            colour, _, shape = tag.partition("_")
            if colour in COLOURS and shape in ("circle", "star", "square", "triangle"):
                assert _colour_fraction(image, COLOURS[colour], inner) > 0.004, (post.id, tag)
        shown = {c for c in COLOURS if c != background and _colour_fraction(image, COLOURS[c], inner) > 0.004}
        drawn = {s.colour for s in post.drawing.shapes}
        assert shown <= drawn | {"white", "black", "grey"}, (post.id, shown, drawn)


@pytest.mark.unit
def test_same_seed_gives_the_same_bytes():
    first = generate_world(seed=7, posts=12)
    second = generate_world(seed=7, posts=12)
    a, b = ImageCache(), ImageCache()
    assert [a.original(p).data for p in first.posts] == [b.original(p).data for p in second.posts]
    assert len({a.original(p).md5 for p in first.posts}) > 1
    duplicates = [p for p in first.posts if p.duplicate_of]
    for post in duplicates:
        assert a.original(post).md5 == a.original(first.by_post_id[post.duplicate_of]).md5


# ---------------------------------------------------------------------------------------------- the server


@pytest.mark.integration
def test_server_api_and_index(sample_site):
    assert sample_site.base_url.startswith("http://127.0.0.1:")
    assert sample_site.url_for("safebooru") == sample_site.base_url + "/safebooru"
    assert sample_site.url_for("jikan").endswith("/jikan/v4")
    with pytest.raises(ValueError, match="unknown site"):
        sample_site.url_for("nowhere")
    status, headers, body = fetch(sample_site.base_url + "/")
    assert status == 200 and b"sample site" in body
    status, _, body = fetch(sample_site.base_url + "/robots.txt")
    assert status == 200 and b"User-agent: *" in body and b"Disallow: /private/" in body
    assert fetch(sample_site.base_url + "/nowhere")[0] == 404


@pytest.mark.integration
def test_start_and_stop_twice_on_free_ports():
    with start_sample_site(posts=20) as one, start_sample_site(posts=20) as two:
        assert one.port != two.port
        assert fetch(one.url_for("safebooru") + "/robots.txt")[0] == 200
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(one.base_url + "/robots.txt", timeout=2)


# ---------------------------------------------------------------------------------------------- safebooru


def _dapi(site, **params: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{site.url_for('safebooru')}/index.php?page=dapi&s=post&q=index&{query}"


@pytest.mark.integration
def test_safebooru_json_is_the_real_format(sample_site):
    status, headers, body = fetch(_dapi(sample_site, json=1, limit=100))
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
    assert any(p["score"] is None for p in json.loads(fetch(_dapi(sample_site, json=1, limit=300, pid=0))[2]))


@pytest.mark.integration
def test_safebooru_blank_body_past_the_last_page_and_too_deep(sample_site):
    status, _, body = fetch(_dapi(sample_site, json=1, limit=100, tags="id:<0"))
    assert status == 200 and body == b""
    status, _, body = fetch(_dapi(sample_site, limit=100, tags="id:<0"))
    root = ET.fromstring(body)
    assert root.tag == "posts" and root.get("count") == "0" and len(root) == 0
    status, _, body = fetch(_dapi(sample_site, json=1, limit=100, pid=5))
    assert status == 200 and body.decode().startswith("Too deep!")


@pytest.mark.integration
def test_safebooru_id_cursor_walks_every_post_once(sample_site):
    seen: list[int] = []
    cursor = None
    for _ in range(20):
        tags = "sort:id:desc" + (f"+id:<{cursor}" if cursor else "")
        body = fetch(_dapi(sample_site, json=1, limit=70, tags=tags))[2]
        if not body:
            break
        page = json.loads(body)
        seen += [p["id"] for p in page]
        cursor = page[-1]["id"]
    assert seen == sorted((p.id for p in sample_site.world.posts), reverse=True)
    ascending = json.loads(fetch(_dapi(sample_site, json=1, limit=5, tags="id:>1010+sort:id:asc"))[2])
    assert [p["id"] for p in ascending] == sorted(p.id for p in sample_site.world.posts if p.id > 1010)[:5]


@pytest.mark.integration
def test_safebooru_tag_query_and_single_id(sample_site):
    world = sample_site.world
    posts = json.loads(fetch(_dapi(sample_site, json=1, limit=1000, tags="red_background+-circle"))[2])
    expected = [p.id for p in reversed(world.posts) if "red_background" in p.tags and "circle" not in p.tags]
    assert [p["id"] for p in posts] == expected and expected
    explicit = json.loads(fetch(_dapi(sample_site, json=1, limit=1000, tags="rating:explicit"))[2])
    assert {p["rating"] for p in explicit} == {"explicit"}
    one = world.posts[5]
    assert [p["id"] for p in json.loads(fetch(_dapi(sample_site, json=1, id=one.id))[2])] == [one.id]


@pytest.mark.integration
def test_safebooru_xml_matches_the_real_capture(sample_site, shared_fixtures):
    real = ET.parse(shared_fixtures / "booru" / "gelbooru_dapi_results.xml").getroot()
    body = fetch(_dapi(sample_site, limit=20))[2]
    ours = ET.fromstring(body)
    assert ours.tag == real.tag == "posts" and set(ours.attrib) == set(real.attrib)
    real_keys = set(real[0].attrib)
    for post in ours:
        assert set(post.attrib) == real_keys
        assert post.get("tags").startswith(" ") and post.get("tags").endswith(" ")
        assert post.get("has_children") in ("true", "false")


@pytest.mark.integration
def test_safebooru_files_match_their_md5(sample_site):
    posts = json.loads(fetch(_dapi(sample_site, json=1, limit=200))[2])
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


# ---------------------------------------------------------------------------------------------- bangumi


@pytest.mark.integration
def test_bangumi_subject_paging_ends(sample_site):
    base = sample_site.url_for("bangumi")
    ids, offset = [], 0
    while True:
        page = get_json(f"{base}/v0/subjects?type=2&limit=10&offset={offset}")
        assert set(page) == {"data", "total", "limit", "offset"} and page["offset"] == offset
        ids += [s["id"] for s in page["data"]]
        offset += page["limit"]
        if offset >= page["total"]:
            break
    assert ids == [w.bangumi_id for w in sample_site.world.anime]
    assert get_json(f"{base}/v0/subjects?type=4&limit=50")["total"] == sum(
        w.kind == "game" for w in sample_site.world.works
    )
    assert fetch(f"{base}/v0/subjects?type=2&limit=51")[0] == 400
    assert fetch(f"{base}/v0/subjects?limit=5")[0] == 400


@pytest.mark.integration
def test_bangumi_records_follow_the_world(sample_site):
    base = sample_site.url_for("bangumi")
    world = sample_site.world
    work = world.anime[1]
    subject = get_json(f"{base}/v0/subjects/{work.bangumi_id}")
    assert subject["name"] == work.titles["ja"] and subject["name_cn"] == work.titles["zh-Hans"]
    infobox = {row["key"]: row["value"] for row in subject["infobox"]}
    assert infobox["中文名"] == work.titles["zh-Hans"]
    assert {v["v"] for v in infobox["别名"]} >= set(work.aliases)
    related = get_json(f"{base}/v0/subjects/{work.bangumi_id}/characters")
    assert [c["id"] for c in related] == [c.bangumi_id for c in world.characters_of(work)]
    first = world.characters_of(work)[0]
    character = get_json(f"{base}/v0/characters/{first.bangumi_id}")
    char_box = {row["key"]: row["value"] for row in character["infobox"]}
    assert character["name"] == first.names["ja"] and char_box["简体中文名"] == first.names["zh-Hans"]
    persons = get_json(f"{base}/v0/characters/{first.bangumi_id}/persons")
    actor = world.voice_actor_of(first)
    assert [p["id"] for p in persons] == [actor.bangumi_id] and persons[0]["subject_id"] == work.bangumi_id
    person = get_json(f"{base}/v0/persons/{actor.bangumi_id}")
    assert person["name"] == actor.names["ja"]
    assert {row["key"]: row["value"] for row in person["infobox"]}["简体中文名"] == actor.names["zh-Hans"]
    voiced = get_json(f"{base}/v0/persons/{actor.bangumi_id}/characters")
    assert len(voiced) == len(actor.character_indexes) >= 1
    status, _, body = fetch(f"{base}/v0/subjects/1")
    assert status == 404 and json.loads(body)["title"] == "Not Found"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("capture", "path"),
    [
        ("v0_example_SubjectDetail.json", "/v0/subjects/{subject}"),
        ("v0_example_RelatedCharacter.json", "/v0/subjects/{subject}/characters"),
        ("v0_example_PersonDetail.json", "/v0/persons/{person}"),
        ("v0_example_PersonCharacter.json", "/v0/persons/{person}/characters"),
        ("v0_example_RelatedSubject.json", "/v0/characters/{character}/subjects"),
    ],
)
def test_bangumi_matches_the_real_captures(sample_site, shared_fixtures, capture, path):
    real = json.loads((shared_fixtures / "bangumi" / capture).read_text(encoding="utf-8"))
    world = sample_site.world
    work = world.anime[0]
    character = world.characters_of(work)[0]
    url = sample_site.url_for("bangumi") + path.format(
        subject=work.bangumi_id, person=world.voice_actor_of(character).bangumi_id, character=character.bangumi_id
    )
    ours = get_json(url)
    assert shape_mismatches(ours, real) == []


@pytest.mark.unit
def test_contact_sheet_draws_posts_with_their_tags(tmp_path):
    from acg2vec.crawlers.sample_site.illustrations import contact_sheet

    world = generate_world(seed=0, posts=6)
    path = contact_sheet(world.posts, str(tmp_path / "sheet.png"), columns=3)
    sheet = Image.open(path)
    assert sheet.format == "PNG" and sheet.width > 600 and sheet.height > 400


@pytest.mark.integration
def test_requests_and_user_agents_are_recorded(sample_site):
    fetch(sample_site.url_for("bangumi") + "/v0/subjects/100000", headers={"User-Agent": "acg2vec-test/1 (tests)"})
    fetch(_dapi(sample_site, json=1, limit=1))
    assert sample_site.requests == {"bangumi": 1, "safebooru": 1}
    assert sample_site.user_agents["bangumi"] == {"acg2vec-test/1 (tests)": 1}
