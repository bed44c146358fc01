"""The sample site's world, illustrations, Safebooru and Bangumi endpoints, checked against real formats."""

from __future__ import annotations

import json

import pytest

from acg2vec.sample_site.conformance import shape_mismatches
from tests.sample_site.client import fetch, get_json


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
