"""The sample site's Jikan API, MyAnimeList pages and pixiv exports; one world across every site."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from acg2vec.sample_site.conformance import shape_mismatches
from tests.sample_site.client import fetch, get_json


def real_body(shared_fixtures, name: str) -> dict:
    capture = json.loads((shared_fixtures / "jikan" / name).read_text(encoding="utf-8"))
    body = capture["body"]
    return json.loads(body) if isinstance(body, str) else body


@pytest.mark.integration
def test_jikan_anime_pages_end_and_cover_every_anime(sample_site):
    base = sample_site.url_for("jikan")
    ids, page = [], 1
    while True:
        answer = get_json(f"{base}/anime?page={page}")
        pagination = answer["pagination"]
        assert pagination["current_page"] == page and pagination["items"]["count"] == len(answer["data"])
        ids += [a["mal_id"] for a in answer["data"]]
        if not pagination["has_next_page"]:
            assert page == pagination["last_visible_page"]
            break
        page += 1
    # MyAnimeList lists a split work's second season as its own entry (World.mal_entries).
    assert ids == sorted(w.mal_id for w in sample_site.world.mal_entries if w.kind == "anime")
    assert len(ids) > len(sample_site.world.anime)
    assert fetch(f"{base}/anime?page=0")[0] == 400
    status, _, body = fetch(f"{base}/anime/1")
    assert status == 404 and json.loads(body)["status"] == 404


@pytest.mark.integration
def test_jikan_records_follow_the_world(sample_site):
    base = sample_site.url_for("jikan")
    world = sample_site.world
    work = world.anime[3]
    anime = get_json(f"{base}/anime/{work.mal_id}/full")["data"]
    titles = {t["type"]: t["title"] for t in anime["titles"]}
    assert titles["Japanese"] == work.titles["ja"] and titles["English"] == work.titles["en"]
    assert titles["Default"] == anime["title"] == work.titles["ja-Latn"]
    assert {"relations", "theme", "external", "streaming"} <= set(anime)
    cast = get_json(f"{base}/anime/{work.mal_id}/characters")["data"]
    assert [c["character"]["mal_id"] for c in cast] == [c.mal_id for c in world.characters_of(work)]
    first = world.characters_of(work)[0]
    actor = world.voice_actor_of(first)
    assert (
        cast[0]["voice_actors"] == [{"person": cast[0]["voice_actors"][0]["person"], "language": "Japanese"}]
        and cast[0]["voice_actors"][0]["person"]["mal_id"] == actor.mal_id
    )
    character = get_json(f"{base}/characters/{first.mal_id}/full")["data"]
    assert character["name_kanji"] == first.names["ja"]
    assert character["anime"][0]["anime"]["mal_id"] == work.mal_id
    person = get_json(f"{base}/people/{actor.mal_id}/full")["data"]
    assert person["family_name"] + person["given_name"] == actor.names["ja"]
    assert first.mal_id in {v["character"]["mal_id"] for v in person["voices"]}


@pytest.mark.integration
def test_jikan_matches_the_real_captures(sample_site, shared_fixtures):
    base = sample_site.url_for("jikan")
    world = sample_site.world
    work = world.anime[0]
    character = world.characters_of(work)[0]
    real_anime = real_body(shared_fixtures, "anime-success.json")["data"]
    real_trailer = real_body(shared_fixtures, "search-success.json")["data"][0]["trailer"]  # a work without a trailer
    ours = get_json(f"{base}/anime/{work.mal_id}")["data"]
    assert list(ours) == list(real_anime)
    assert shape_mismatches(ours, {**real_anime, "trailer": real_trailer}) == []
    assert shape_mismatches(ours["trailer"], real_trailer) == []
    ours_list = get_json(f"{base}/anime?page=1")
    real_list = real_body(shared_fixtures, "search-success.json")
    assert shape_mismatches(ours_list["pagination"], real_list["pagination"]) == []
    real_character = real_body(shared_fixtures, "character-success.json")["data"]
    assert shape_mismatches(get_json(f"{base}/characters/{character.mal_id}")["data"], real_character) == []
    real_person = real_body(shared_fixtures, "person-success.json")["data"]
    actor = world.voice_actor_of(character)
    assert shape_mismatches(get_json(f"{base}/people/{actor.mal_id}")["data"], real_person) == []


class _MalPage(HTMLParser):
    """Collects the fields a MyAnimeList page parser reads: title, the side bar rows, character links."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.title = ""
        self.rows: dict[str, str] = {}
        self.characters: list[str] = []
        self._row: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.stack.append((tag, attrs))
        if tag == "a" and "/character/" in (attrs.get("href") or ""):
            self.characters.append(attrs["href"])

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass
        if tag == "div":
            self._row = None

    def handle_data(self, data):
        classes = [a.get("class", "") for _, a in self.stack]
        if any("title-name" in c for c in classes):
            self.title += data
        if self.stack and self.stack[-1][1].get("class") == "dark_text":
            self._row = data.strip().rstrip(":")
            self.rows[self._row] = ""
        elif self._row:
            self.rows[self._row] += data


@pytest.mark.integration
def test_mal_anime_page_has_the_real_layout(sample_site):
    work = sample_site.world.anime[1]
    status, _, body = fetch(f"{sample_site.url_for('mal')}/anime/{work.mal_id}/{work.slug}")
    assert status == 200
    page = _MalPage()
    page.feed(body.decode("utf-8"))
    assert page.title.strip() == work.title_on("mal", "ja-Latn")
    assert page.rows["Japanese"].strip() == work.titles["ja"]
    assert page.rows["English"].strip() == work.titles["en"]
    assert page.rows["Episodes"].strip() == str(work.episodes)
    assert len(page.characters) == len(work.character_indexes)
    assert fetch(f"{sample_site.url_for('mal')}/anime/1/nothing")[0] == 404
