"""The acg_entities table round-trips through its one writer and reader."""

from __future__ import annotations

import pytest

from acg2vec.datasets.acg_entities import records, schema
from acg2vec.datasets.acg_entities.schema import Entity, Evidence, TagLink
from acg2vec.errors import UserError
from acg2vec.workspace import Workspace


def _entities() -> list[Entity]:
    work = Entity(
        entity_id=schema.entity_id("work", "bangumi", "12"),
        kind="work",
        titles={"en": "Magic Cat", "ja": "魔法猫", "zh-Hans": "魔法猫"},
        aliases=["まほうねこ"],
        sources=[("bangumi", "12"), ("wikipedia", "ja:魔法猫")],
        evidence=[
            Evidence("bangumi", "12", schema.SEED),
            Evidence("wikipedia", "ja:魔法猫", schema.MATCH, 14.2, 0.9999, ["title", "year"], [], "bangumi:12"),
        ],
    )
    person = Entity(schema.entity_id("person", "bangumi", "7"), "person", {"ja": "山田花子"}, [], [("bangumi", "7")])
    character = Entity(
        schema.entity_id("character", "bangumi", "3"),
        "character",
        {"ja": "ミケ"},
        sources=[("bangumi", "3")],
        works=[work.entity_id],
        voice_actors=[person.entity_id],
    )
    return [work, person, character]


def test_round_trip_lookup_and_location(tmp_path):
    workspace = Workspace.at(tmp_path)
    entities = _entities()
    link = TagLink("magic_cat", "copyright", entities[0].entity_id, "name", "magic cat")
    folder = records.write_entities(workspace, entities, [link], metadata={"records": 4})
    assert folder == schema.entities_dir(workspace) == f"{tmp_path}/datasets/acg_entities/{schema.VERSION}"
    back = list(records.read_entities(workspace))
    assert sorted(e.entity_id for e in back) == sorted(e.entity_id for e in entities)
    assert {e.entity_id: e for e in back} == {e.entity_id: e for e in entities}
    assert [e.kind for e in records.read_entities(folder, kind="work")] == ["work"]
    assert records.find_entity(tmp_path, entities[2].entity_id) == entities[2]
    assert records.find_entity(tmp_path, "work:000000000000") is None
    assert records.read_tag_links(workspace) == [link]
    assert records.source_index(back)[("wikipedia", "ja:魔法猫")] == entities[0].entity_id
    assert entities[0].title() == "魔法猫" and entities[0].names()[-1] == "まほうねこ"


def test_missing_or_incomplete_table_is_one_sentence(tmp_path):
    with pytest.raises(UserError, match="build it with `acg2vec build entities`"):
        list(records.read_entities(Workspace.at(tmp_path)))
    folder = records.write_entities(tmp_path / "t", _entities())
    (tmp_path / "t" / schema.BUILD_METADATA).unlink()
    with pytest.raises(UserError, match="interrupted"):
        records.load_entities(folder)


def test_entity_ids_are_stable_and_name_their_kind():
    assert schema.entity_id("work", "bangumi", "12") == schema.entity_id("work", "bangumi", "12")
    assert schema.entity_id("work", "bangumi", "12") != schema.entity_id("work", "bangumi", "13")
    assert schema.kind_of(schema.entity_id("character", "animelist", "5")) == "character"
