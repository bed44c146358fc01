"""Search and serving by entity: a workdir whose acg_entities table merges each work's three sites under one id.

Works index rows, the work search (top 10 shows no entity twice, each result with every title, alias and source),
``GET /v1/entities/{id}`` (404 for an unknown id, in the OpenAPI schema) and the fallback of a workdir without a
table (works grouped by the corpus's entity_id, said once in the log).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from acg2vec.serving import entity_index, indexing
from tests.serving.fakes import (  # noqa: F401 -- fixtures
    MIKE_TAG,
    UNLINKED,
    entities_workdir,
    entity_works,
    served_workdir,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def services(entities_workdir):  # noqa: F811
    from acg2vec.serving.services import ServeConfig, load_services

    loaded = load_services(ServeConfig(workdir=str(entities_workdir)))
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def client(services):
    from acg2vec.serving.app import create_app

    with TestClient(create_app(services.config, services=services)) as test_client:
        yield test_client


def expected_works() -> dict[str, dict]:
    """What each result must show: the table's titles, its aliases then the corpus-only spelling, its sources."""
    return {
        entity.entity_id: {
            "titles": entity.titles,
            "aliases": [*entity.aliases, moegirl_zh],
            "sources": [{"source": s, "source_id": i} for s, i in entity.sources],
        }
        for entity, moegirl_zh in entity_works()
    }


def test_the_works_index_has_one_row_per_entity_with_every_name(entities_workdir):  # noqa: F811
    folder = entities_workdir / "index" / "works"
    works = pq.read_table(folder / indexing.WORKS_FILE).to_pylist()
    expected = expected_works()
    assert [w["entity_id"] for w in works] == sorted([*expected, UNLINKED])
    for work in works:
        if work["entity_id"] == UNLINKED:  # kept from its pairs, with the site they came from
            assert json.loads(work["sources"]) == [{"source": "moegirl", "source_id": None}]
            continue
        want = expected[work["entity_id"]]
        assert json.loads(work["titles"]) == want["titles"] and work["aliases"] == want["aliases"]
        assert json.loads(work["sources"]) == want["sources"]
    titles = pq.read_table(folder / indexing.TITLES_FILE).to_pylist()
    for row, work in enumerate(works):  # one title row per distinct name (魔法宇宙 is both ja and zh-Hans)
        want = expected.get(work["entity_id"], {"titles": {}, "aliases": []})
        names = [*want["titles"].values(), *want["aliases"]]
        assert [t["text"] for t in titles if t["work"] == row] == list(dict.fromkeys(names)) or not names
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["works"] == len(expected) + 1 and meta["unlinked_works"] == 1
    assert meta["entities_table"].endswith("datasets/acg_entities/1.0.0")
    # The table as serve reads it, beside the works index; current until the table is rebuilt.
    assert (entities_workdir / "index" / "entities" / "entities.parquet").is_file()
    model = str(entities_workdir / "models" / "acgvoc2vec")
    assert indexing.works_are_current(str(folder), model, str(entities_workdir / "datasets"))


@pytest.mark.parametrize("scorer", ["hybrid", "dense", "lexical"])
def test_a_work_search_top_10_shows_no_entity_twice(client, scorer):
    answer = client.get("/v1/works/search", params={"q": "魔法", "k": 10, "scorer": scorer}).json()
    results = answer["results"]
    ids = [r["entity_id"] for r in results]
    assert len(results) == 10 and len(set(ids)) == 10
    expected = expected_works()
    for result in results:
        if result["entity_id"] == UNLINKED:
            continue
        want = expected[result["entity_id"]]
        assert result["titles"] == want["titles"] and result["aliases"] == want["aliases"]
        assert result["sources"] == want["sources"] and result["kind"] == "work"
        assert result["url"] == f"/v1/entities/{result['entity_id']}" and result["title"] == want["titles"]["ja"]


def test_two_works_of_one_title_are_two_results(client):
    # 魔法猫 (2001) and 魔法猫 (2012): one title, two entities, both found, each with its own year.
    results = client.get("/v1/works/search", params={"q": "魔法猫", "k": 5, "scorer": "lexical"}).json()["results"]
    cats = [r for r in results if r["titles"].get("ja") == "魔法猫"]
    assert len(cats) == 2 and len({r["entity_id"] for r in cats}) == 2
    assert {a for r in cats for a in r["aliases"] if a.startswith("Mahou")} == {"Mahou Cat (2001)", "Mahou Cat (2012)"}


def test_an_entity_by_id_with_its_sources_and_evidence(client):
    entity, _ = entity_works()[0]
    answer = client.get(f"/v1/entities/{entity.entity_id}").json()
    assert answer["entity_id"] == entity.entity_id and answer["kind"] == "work" and answer["title"] == "魔法猫"
    assert answer["titles"] == entity.titles and answer["aliases"] == entity.aliases
    assert [(s["source"], s["source_id"]) for s in answer["sources"]] == entity.sources
    assert [e["method"] for e in answer["evidence"]] == ["seed", "id-link", "match"]
    assert answer["evidence"][2]["agreed"] == ["title", "year", "type"]
    # Characters and people are entities too: a character names her work and her voice actor.
    character_id = next(e for e in client.app.fastapi.state.serving.services.entities.entities if "character" in e)
    character = client.get(f"/v1/entities/{character_id}").json()
    assert character["works"] == [entity.entity_id] and character["title"] == "魔法猫ミケ"
    person = client.get(f"/v1/entities/{character['voice_actors'][0]}").json()
    assert person["kind"] == "person" and person["titles"] == {"ja": "声優一郎"}


def test_an_unknown_entity_is_one_sentence_404(client):
    answer = client.get("/v1/entities/work:000000000000")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "No entity 'work:000000000000' in this server."}


def test_the_entity_route_is_documented(client):
    schema = client.get("/openapi.json").json()
    route = schema["paths"]["/v1/entities/{entity_id}"]["get"]
    assert set(route["responses"]) >= {"200", "404"}
    assert route["parameters"][0]["name"] == "entity_id" and route["parameters"][0]["description"]
    fields = schema["components"]["schemas"]["EntityAnswer"]["properties"]
    assert {"titles", "aliases", "sources", "evidence", "works", "voice_actors"} <= set(fields)
    ready = client.get("/readyz").json()
    assert ready["entities"] == {"count": 14, "table": True}


def test_without_a_table_works_are_the_corpus_groups_said_once(served_workdir, caplog):  # noqa: F811
    from acg2vec.serving.services import ServeConfig, load_services

    folder = str(served_workdir / "index" / "works")
    with caplog.at_level(logging.WARNING):
        assert entity_index.entities_table(str(served_workdir / "datasets")) is None
    assert sum("no acg_entities table" in r.getMessage() for r in caplog.records) == 1
    meta = json.loads(Path(folder, "meta.json").read_text())
    assert meta["entities_table"] is None and not (served_workdir / "index" / "entities").exists()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        loaded = load_services(ServeConfig(workdir=str(served_workdir)))
    try:
        assert sum("no entities table" in r.getMessage() for r in caplog.records) == 1
        work = loaded.entities.get("bangumi:2")
        assert work["titles"] == {"ja": "鋼の錬金術師", "zh": "钢之炼金术师", "en": "Fullmetal Alchemist"}
        assert [s["source"] for s in work["sources"]] == ["animelist", "bangumi", "wikipedia"]
        assert work["evidence"] == [] and loaded.entities.table is None
    finally:
        loaded.close()


def test_a_new_table_makes_the_works_index_stale(served_workdir, tmp_path):  # noqa: F811
    import shutil

    from acg2vec.datasets.acg_entities.records import write_entities
    from acg2vec.datasets.acg_entities.schema import entities_dir

    datasets = tmp_path / "datasets"
    shutil.copytree(served_workdir / "datasets" / "parquet", datasets / "parquet")
    folder, model = str(served_workdir / "index" / "works"), str(served_workdir / "models" / "acgvoc2vec")
    assert indexing.works_are_current(folder, model, str(datasets))
    write_entities(entities_dir(str(datasets)), [entity for entity, _ in entity_works()])
    assert not indexing.works_are_current(folder, model, str(datasets))


def test_tags_the_table_links_get_their_entitys_titles(entities_workdir, tmp_path):  # noqa: F811
    class Tagger:  # a tagger's vocabulary as load_image_model exposes it
        has_tags = True
        path = str(tmp_path / "deepdanbooru")
        tag_names = [MIKE_TAG, "Magic_Knight", "smile"]
        tag_categories = ["character", "copyright", "general"]
        tag_counts = [3, 5, 900]

    table = entity_index.entities_table(str(entities_workdir / "datasets"))
    titles = entity_index.linked_tag_titles(table)
    out = tmp_path / "tags"
    indexing.build_tags_table(out_dir=str(out), tagger=Tagger(), tag_titles=titles)
    rows = {row["name"]: json.loads(row["translations"]) for row in pq.read_table(out / "tags.parquet").to_pylist()}
    # Linked by a pixiv translation: the character's names; spelling a work's English title: its other titles.
    assert rows[MIKE_TAG] == {"ja": ["魔法猫ミケ"], "zh-Hans": ["魔法猫三花"]}
    assert rows["Magic_Knight"] == {"ja": ["魔法騎士"], "zh-Hans": ["魔法骑士"]}
    assert rows["smile"] == {}
