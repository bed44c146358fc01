"""The one reader and writer of the ``acg_entities`` table (see :mod:`acg2vec.datasets.acg_entities.schema`).

``write_entities`` writes a complete table folder (Parquet files, then ``build_metadata.json`` last);
``read_entities`` streams its rows back as :class:`~acg2vec.datasets.acg_entities.schema.Entity`;
``find_entity`` fetches one row by id without reading the rest; ``load_entities`` and ``source_index`` hold the
table in memory for a server or a build that looks entities up often.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

from acg2vec.beam_pipelines import files
from acg2vec.beam_pipelines.publish import require_complete
from acg2vec.datasets.acg_entities import schema
from acg2vec.datasets.acg_entities.schema import Entity, Evidence, TagLink
from acg2vec.errors import UserError

ROWS_PER_GROUP = 50_000


def _arrow_schemas():
    import pyarrow as pa

    text_list = pa.list_(pa.string())
    evidence = pa.struct(
        [
            ("source", pa.string()),
            ("source_id", pa.string()),
            ("method", pa.string()),
            ("match_weight", pa.float64()),
            ("match_probability", pa.float64()),
            ("agreed", text_list),
            ("ids", text_list),
            ("linked_to", pa.string()),
        ]
    )
    entities = pa.schema(
        [
            ("entity_id", pa.string()),
            ("kind", pa.string()),
            ("titles", pa.map_(pa.string(), pa.string())),
            ("aliases", text_list),
            ("sources", pa.list_(pa.struct([("source", pa.string()), ("source_id", pa.string())]))),
            ("evidence", pa.list_(evidence)),
            ("works", text_list),
            ("voice_actors", text_list),
        ]
    )
    tag_links = pa.schema([(name, pa.string()) for name in ("tag", "category", "entity_id", "method", "evidence")])
    return entities, tag_links


def _entity_row(entity: Entity) -> dict[str, Any]:
    return {
        "entity_id": entity.entity_id,
        "kind": entity.kind,
        "titles": sorted(entity.titles.items(), key=lambda kv: _lang_order(kv[0])),
        "aliases": list(entity.aliases),
        "sources": [{"source": s, "source_id": i} for s, i in entity.sources],
        "evidence": [asdict(e) for e in entity.evidence],
        "works": list(entity.works),
        "voice_actors": list(entity.voice_actors),
    }


def _lang_order(lang: str) -> tuple[int, str]:
    return (schema.TITLE_LANGS.index(lang) if lang in schema.TITLE_LANGS else len(schema.TITLE_LANGS), lang)


def _entity_from_row(row: dict[str, Any]) -> Entity:
    return Entity(
        entity_id=row["entity_id"],
        kind=row["kind"],
        titles=dict(row["titles"] or []),
        aliases=list(row["aliases"] or []),
        sources=[(s["source"], s["source_id"]) for s in row["sources"] or []],
        evidence=[Evidence(**e) for e in row["evidence"] or []],
        works=list(row["works"] or []),
        voice_actors=list(row["voice_actors"] or []),
    )


def _write_parquet(path: str, table) -> None:
    """One Parquet file, whole or absent (:func:`acg2vec.beam_pipelines.files.create`)."""
    import pyarrow.parquet as pq

    with files.create(path) as fh:
        pq.write_table(table, fh, compression="zstd", row_group_size=ROWS_PER_GROUP)


def write_entities(
    out_dir: Any,
    entities: Iterable[Entity],
    tag_links: Iterable[TagLink] = (),
    *,
    metadata: dict[str, Any] | None = None,
) -> str:
    """Write a complete table into ``out_dir`` (the table folder itself, or a :class:`~acg2vec.workspace.Workspace`):
    ``entities.parquet``, ``tag_links.parquet``, then ``build_metadata.json`` (``metadata`` plus the row
    counts) last. Returns the folder. Rows are written in entity-id order, so a lookup reads one row group."""
    import pyarrow as pa

    folder = schema.entities_dir(out_dir) if hasattr(out_dir, "datasets") else str(out_dir).rstrip("/")
    files.mkdirs(folder)
    entity_schema, link_schema = _arrow_schemas()
    rows = sorted((_entity_row(e) for e in entities), key=lambda r: r["entity_id"])
    _write_parquet(f"{folder}/{schema.ENTITIES_FILE}", pa.Table.from_pylist(rows, schema=entity_schema))
    links = sorted((asdict(link) for link in tag_links), key=lambda r: (r["category"], r["tag"], r["entity_id"]))
    _write_parquet(f"{folder}/{schema.TAG_LINKS_FILE}", pa.Table.from_pylist(links, schema=link_schema))
    meta = dict(metadata or {})
    meta.setdefault("name", schema.NAME)
    meta.setdefault("version", schema.VERSION)
    meta["entities"] = len(rows)
    meta["entities_by_kind"] = {k: sum(1 for r in rows if r["kind"] == k) for k in schema.KINDS}
    meta["tag_links"] = len(links)
    files.write_text(f"{folder}/{schema.BUILD_METADATA}", json.dumps(meta, ensure_ascii=False, indent=2))
    return folder


def table_dir(where: Any, *, must_exist: bool = True) -> str:
    """The table folder of ``where`` (see :func:`schema.entities_dir`); with ``must_exist``, a complete one or
    one clear sentence (:class:`UserError`) saying how to build it."""
    if not hasattr(where, "datasets") and files.exists(f"{str(where).rstrip('/')}/{schema.ENTITIES_FILE}"):
        folder = str(where).rstrip("/")
    else:
        folder = schema.entities_dir(where)
    if must_exist:
        require_complete(folder, marker=schema.BUILD_METADATA, build_command=schema.BUILD_COMMAND)
    return folder


def _parquet_file(path: str):
    """The table's Parquet file, its footer read (cut short, empty or of another kind: the damaged-file sentence)."""
    from acg2vec.datasets.published import open_parquet

    return open_parquet(path, repair=schema.BUILD_COMMAND, lost="the entity table cannot be read")


def read_entities(where: Any, *, kind: str | None = None) -> Iterator[Entity]:
    """Every entity of the table at ``where`` (a workspace, workdir, datasets folder or table folder), in id
    order, streamed a row group at a time; ``kind`` keeps one kind."""
    path = f"{table_dir(where)}/{schema.ENTITIES_FILE}"
    for batch in _parquet_file(path).iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            if kind is None or row["kind"] == kind:
                yield _entity_from_row(row)


def find_entity(where: Any, entity_id: str) -> Entity | None:
    """The entity ``entity_id`` of the table at ``where``, or None when there is none (reads only the row
    groups whose id range holds it)."""
    path = f"{table_dir(where)}/{schema.ENTITIES_FILE}"
    parquet = _parquet_file(path)
    column = parquet.schema_arrow.get_field_index("entity_id")
    for group in range(parquet.num_row_groups):
        stats = parquet.metadata.row_group(group).column(column).statistics
        if stats is not None and stats.has_min_max and not (stats.min <= entity_id <= stats.max):
            continue
        table = parquet.read_row_group(group)
        ids = table.column("entity_id").to_pylist()
        if entity_id in ids:
            return _entity_from_row(table.slice(ids.index(entity_id), 1).to_pylist()[0])
    return None


def load_entities(where: Any, *, kind: str | None = None) -> dict[str, Entity]:
    """The whole table (or one ``kind``) in memory, by entity id."""
    return {entity.entity_id: entity for entity in read_entities(where, kind=kind)}


def source_index(entities: Iterable[Entity]) -> dict[tuple[str, str], str]:
    """``(source, source_id)`` -> entity id, for every record merged into ``entities``."""
    return {source: entity.entity_id for entity in entities for source in entity.sources}


def record_index(where: Any) -> dict[str, str]:
    """Record id -> entity id for every record merged in the table at ``where`` (``work:bangumi:12``, a pixiv
    tag as ``tag:pixiv:<tag>``): what the text build looks a pair's entity up by."""
    from acg2vec.datasets.acg_entities.candidates import record_id
    from acg2vec.datasets.acg_entities.tags import tag_record_id

    return {
        tag_record_id(source_id) if source == "pixiv" else record_id(entity.kind, source, source_id): entity.entity_id
        for entity in read_entities(where)
        for source, source_id in entity.sources
    }


def read_tag_links(where: Any) -> list[TagLink]:
    """The image-tag links of the table at ``where``."""
    path = f"{table_dir(where)}/{schema.TAG_LINKS_FILE}"
    return [TagLink(**row) for row in _parquet_file(path).read().to_pylist()]


def missing_table_error(where: Any) -> UserError:
    """The one sentence for a command that needs the table and finds none."""
    return UserError(
        f"No {schema.NAME} table at {schema.entities_dir(where)}; build it with `{schema.BUILD_COMMAND}`."
    )
