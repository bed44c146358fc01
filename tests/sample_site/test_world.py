"""The sample site's world, illustrations, Safebooru and Bangumi endpoints, checked against real formats."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections import Counter

import pytest

from acg2vec.sample_site import generate_world
from acg2vec.sample_site.world import (
    BACKGROUND_COLOURS,
    COLOURED_SHAPE_TAGS,
    SHAPE_COLOURS,
    SHAPE_WEIGHTS,
)
from tests.sample_site.client import get_json


def general_vocabulary() -> list[str]:
    """Every general tag a post can carry."""
    tags = [f"{c}_background" for c in BACKGROUND_COLOURS]
    tags += list(SHAPE_WEIGHTS)
    tags += [f"{c}_{k}" for k in COLOURED_SHAPE_TAGS for c in SHAPE_COLOURS]
    tags += ["stripes", "horizontal_stripes", "vertical_stripes", "polka_dots", "frame"]
    tags += ["1shape", "2shapes", "3shapes", "multiple_shapes"]
    return tags


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


@pytest.mark.integration
def test_one_world_across_sites(sample_site):
    """A work's Bangumi subject, MyAnimeList anime and wiki articles name the same thing."""
    world = sample_site.world
    work = next(w for w in world.anime if "en" in w.wiki_titles)
    subject = get_json(f"{sample_site.url_for('bangumi')}/v0/subjects/{work.bangumi_id}")
    anime = get_json(f"{sample_site.url_for('jikan')}/anime/{work.mal_id}")["data"]
    assert subject["name"] == anime["title_japanese"] == work.titles["ja"]
    url = (
        sample_site.url_for("wikipedia/ja")
        + "/w/api.php?action=query&prop=langlinks&format=json&formatversion=2&titles="
    )
    page = get_json(url + urllib.request.quote(subject["name"]))["query"]["pages"][0]
    links = {link["lang"]: link["title"] for link in page["langlinks"]}
    assert links == {"zh": subject["name_cn"], "en": work.wiki_titles["en"]}
    assert anime["title_english"] == work.title_on("mal", "en")
    bangumi_names = {
        c["name"] for c in get_json(f"{sample_site.url_for('bangumi')}/v0/subjects/{work.bangumi_id}/characters")
    }
    jikan_names = {re.sub(r"\s+", " ", c.names["ja"]) for c in world.characters_of(work)}
    assert bangumi_names == jikan_names


def test_world_knows_every_records_identity_and_the_sites_disagree_realistically():
    from acg2vec.sample_site.world import HOMONYM, MAL_SEASON_ID_OFFSET, mal_romaji

    world = generate_world(seed=0, posts=10)
    later, earlier = world.works[HOMONYM[0]], world.works[HOMONYM[1]]
    # Two different works with one title, years apart; the wikis disambiguate the later page by its year.
    assert later.titles == earlier.titles and later.air_date.year != earlier.air_date.year
    assert later.wiki_titles["ja"] == f"{earlier.titles['ja']} ({later.air_date.year}年のアニメ)"
    assert world.identity("work", "wikipedia", f"ja:{later.wiki_titles['ja']}") == f"work:{later.index}"
    assert world.identity("work", "bangumi", str(earlier.bangumi_id)) == f"work:{earlier.index}"
    # MyAnimeList lists a season as its own entry; both entries are the world's one work.
    split = next(w for w in world.works if w.mal_season_split)
    second = world.by_mal_anime[split.mal_id + MAL_SEASON_ID_OFFSET]
    assert second.titles["ja"].endswith("第2期") and second.episodes + split.mal_season_split == split.episodes
    assert world.identity("work", "animelist", str(second.mal_id)) == f"work:{split.index}"
    # Transliterations and missing titles differ by site.
    assert mal_romaji("Mahou Shoujo Yuuma") == "Maho Shojo Yuma"
    assert any(w.title_on("moegirl", "ja") is None for w in world.works)
    assert any(w.title_on("mal", "en") is None for w in world.anime)
    assert any(w.wiki_titles.get("en") == w.titles["ja-Latn"] for w in world.works)
    character, person = world.characters[5], world.persons[3]
    assert world.identity("character", "animelist", str(character.mal_id)) == "character:5"
    assert world.identity("person", "bangumi", str(person.bangumi_id)) == "person:3"
    assert world.identity("work", "pixiv", "オリジナル") is None
