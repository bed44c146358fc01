"""A tiny served workdir built for real: the colour dataset and models of ``tests.evaluation.fakes``, a few works
in three languages as acg_text_pairs Parquet, a one-layer acgvoc2vec, and the indexes ``acg2vec index`` writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.evaluation.fakes import make_illustrations_dataset, make_image_model, make_sentence_transformer

# (entity_id, ja, zh, en): titles whose characters share nothing across works, so the right work is unambiguous.
WORKS = [
    ("bangumi:1", "涼宮ハルヒの憂鬱", "凉宫春日的忧郁", "The Melancholy of Haruhi Suzumiya"),
    ("bangumi:2", "鋼の錬金術師", "钢之炼金术师", "Fullmetal Alchemist"),
    ("bangumi:3", "魔法少女まどか☆マギカ", "魔法少女小圆", "Puella Magi Madoka Magica"),
]
ALIASES = {"bangumi:2": "ハガレン"}
TAG_PAIRS = [("初音ミク", "初音未来"), ("猫耳", "猫耳朵")]
COLUMNS = ("anchor", "positive", "pair_type", "source", "entity_id", "anchor_lang", "positive_lang")


def text_pair_rows() -> list[dict]:
    rows = []

    def add(anchor, positive, pair_type, entity, alang, plang, source="bangumi"):
        rows.append(dict(zip(COLUMNS, (anchor, positive, pair_type, source, entity, alang, plang), strict=True)))

    for entity, ja, zh, en in WORKS:
        add(ja, zh, "title_ja-title_zh", entity, "ja", "zh")
        add(ja, en, "title_ja-title_en", entity, "ja", "en", source="animelist")
        add(zh, f"{zh}是一部作品。", "title_zh-summary", entity, "zh", "zh")
        if entity in ALIASES:
            add(ALIASES[entity], zh, "title_ja-title_zh", entity, "ja", "zh", source="wikipedia")
    for ja, zh in TAG_PAIRS:
        add(ja, zh, "tag_ja-tag_zh", f"pixiv-tag:{ja}", "ja", "zh", source="pixiv")
    add("声優", "声优", "va_name_ja-va_name_zh", "person:1", "ja", "zh")
    return rows


def all_texts() -> list[str]:
    return [t for row in text_pair_rows() for t in (row["anchor"], row["positive"])] + ["red green blue tag"]


def make_text_pairs(workdir: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(workdir) / "datasets" / "parquet" / "acg_text_pairs" / "train"
    out.mkdir(parents=True, exist_ok=True)
    rows = text_pair_rows()
    pq.write_table(pa.table({c: [r[c] for r in rows] for c in COLUMNS}), out / "part-00000.parquet")
    (out.parent / "build_metadata.json").write_text(
        "{}", encoding="utf-8"
    )  # marks the corpus complete, as a build does
    return out


def make_served_workdir(workdir: Path) -> Path:
    """Datasets and models under ``workdir`` as training leaves them (indexes not built yet).

    The colour tagger is also the image embedder (its ``embed`` signature), as a workdir without illust2vec has it.
    """
    workdir = Path(workdir)
    make_illustrations_dataset(workdir, per_colour=4)
    make_image_model(workdir / "models" / "deepdanbooru")
    make_text_pairs(workdir)
    make_sentence_transformer(workdir / "models" / "acgvoc2vec", texts=all_texts())
    return workdir


# -- fixtures (import them into a test module to use them) ----------------------------------------------------


@pytest.fixture(scope="session")
def served_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny workdir with its indexes built the way ``serve`` builds missing ones."""
    from acg2vec.serving.services import ServeConfig, build_missing

    workdir = make_served_workdir(tmp_path_factory.mktemp("served") / "acg2vec-data")
    built = build_missing(ServeConfig(workdir=str(workdir)))
    assert built == ["images", "works", "tags"]
    return workdir


@pytest.fixture(scope="session")
def milvus_client(tmp_path_factory: pytest.TempPathFactory):
    """An embedded Milvus (milvus-lite) in a file, shared by the session's tests."""
    from pymilvus import MilvusClient

    client = MilvusClient(str(tmp_path_factory.mktemp("milvus") / "vectors.db"))
    yield client
    client.close()


@pytest.fixture(scope="session", params=["faiss", "milvus"])
def backend_services(request: pytest.FixtureRequest, served_workdir: Path):
    """The served workdir loaded once per vector store."""
    from acg2vec.serving.services import ServeConfig, load_services

    backend = request.param
    client = request.getfixturevalue("milvus_client") if backend == "milvus" else None
    config = ServeConfig(workdir=str(served_workdir), vectors=backend, milvus_uri="embedded" if client else None)
    services = load_services(config, milvus_client=client)
    yield services
    services.close()


# -- a workdir with an acg_entities table ---------------------------------------------------------------------

# Twelve works whose titles all hold 魔法 (so a search for it ranks every one), each described by three sites
# under different spellings; two of them share a title years apart (two entities, one title).
MAGIC = [
    ("猫", "猫", "Cat"), ("騎士", "骑士", "Knight"), ("少女", "少女", "Girl"), ("学園", "学园", "Academy"),
    ("戦記", "战记", "Chronicle"), ("探偵", "侦探", "Detective"), ("王国", "王国", "Kingdom"), ("剣", "剑", "Sword"),
    ("宇宙", "宇宙", "Space"), ("鉄道", "铁道", "Railway"), ("花", "花", "Flower"),
]  # fmt: skip
UNLINKED = "moegirl:魔法の夜"
MIKE_TAG = "mike_(mahou_neko)"  # a booru character tag the table links to the character 魔法猫ミケ  # a corpus work the table does not know (a corpus built against another table)


def entity_works():
    """The works of the table: (Entity, the moegirl spelling only the corpus has)."""
    from acg2vec.datasets.acg_entities.schema import Entity, Evidence, entity_id

    works = []
    for i, (ja, zh, en) in enumerate([*MAGIC, MAGIC[0]]):
        eid = entity_id("work", "bangumi", str(100 + i))
        year = 2001 + i
        entity = Entity(
            entity_id=eid,
            kind="work",
            titles={"ja": f"魔法{ja}", "zh-Hans": f"魔法{zh}", "en": f"Magic {en}"},
            aliases=[f"Mahou {en} ({year})", f"魔法の{ja}"],
            sources=[("bangumi", str(100 + i)), ("wikipedia", f"ja:魔法{ja}"), ("animelist", str(900 + i))],
            evidence=[
                Evidence("bangumi", str(100 + i), "seed"),
                Evidence("wikipedia", f"ja:魔法{ja}", "id-link", ids=[f"bangumi={100 + i}"]),
                Evidence("animelist", str(900 + i), "match", 14.2, 0.9999, ["title", "year", "type"], [], eid),
            ],
        )
        works.append((entity, f"魔法{zh}（{year}年动画）"))
    return works


def entity_pair_rows() -> list[dict]:
    rows = []

    def add(anchor, positive, pair_type, entity, alang, plang, source):
        rows.append(dict(zip(COLUMNS, (anchor, positive, pair_type, source, entity, alang, plang), strict=True)))

    for entity, moegirl_zh in entity_works():
        t = entity.titles
        add(t["ja"], t["zh-Hans"], "title_ja-title_zh", entity.entity_id, "ja", "zh", "bangumi")
        add(t["ja"], t["en"], "title_ja-title_en", entity.entity_id, "ja", "en", "wikipedia")
        add(moegirl_zh, f"{moegirl_zh}是一部动画。", "title_zh-summary", entity.entity_id, "zh", "zh", "moegirl")
    add("魔法の夜", "魔法之夜", "title_ja-title_zh", UNLINKED, "ja", "zh", "moegirl")
    return rows


def make_entities_workdir(workdir: Path) -> Path:
    """acg_text_pairs keyed by the entities table's ids, the table itself (with a character and her voice actor,
    written by the table's own writer) and a tiny acgvoc2vec; indexes not built yet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from acg2vec.datasets.acg_entities.records import write_entities
    from acg2vec.datasets.acg_entities.schema import Entity, Evidence, TagLink, entities_dir, entity_id

    workdir = Path(workdir)
    out = workdir / "datasets" / "parquet" / "acg_text_pairs" / "train"
    out.mkdir(parents=True, exist_ok=True)
    rows = entity_pair_rows()
    pq.write_table(pa.table({c: [r[c] for r in rows] for c in COLUMNS}), out / "part-00000.parquet")
    (out.parent / "build_metadata.json").write_text("{}", encoding="utf-8")
    works = [entity for entity, _ in entity_works()]
    person = Entity(entity_id("person", "bangumi", "p1"), "person", {"ja": "声優一郎"}, sources=[("bangumi", "p1")])
    character = Entity(
        entity_id("character", "bangumi", "c1"),
        "character",
        {"ja": "魔法猫ミケ", "zh-Hans": "魔法猫三花"},
        sources=[("bangumi", "c1"), ("moegirl", "三花")],
        evidence=[Evidence("bangumi", "c1", "seed"), Evidence("moegirl", "三花", "match", 9.5, 0.998, ["name"])],
        works=[works[0].entity_id],
        voice_actors=[person.entity_id],
    )
    link = TagLink(MIKE_TAG, "character", character.entity_id, "pixiv-translation", "ミケ")
    write_entities(entities_dir(str(workdir)), [*works, character, person], [link])
    texts = [t for row in rows for t in (row["anchor"], row["positive"])]
    texts += [name for entity in works for name in entity.names()]
    make_sentence_transformer(workdir / "models" / "acgvoc2vec", texts=texts)
    return workdir


@pytest.fixture(scope="session")
def entities_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The entities workdir with its indexes built the way ``serve`` builds missing ones."""
    from acg2vec.serving.services import ServeConfig, build_missing

    workdir = make_entities_workdir(tmp_path_factory.mktemp("entities") / "acg2vec-data")
    assert build_missing(ServeConfig(workdir=str(workdir))) == ["works", "tags"]
    return workdir
