"""What the serving indexes take from the ``acg_entities`` table: which table a workspace has, its works as the
works index holds them (with the corpus's works linked in), its copy under ``index/entities/``, and the titles of
the entities image tags name (for the tag list's translations).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def entities_table(datasets_root: str, *, warn: bool = True) -> str | None:
    """The workspace's complete ``acg_entities`` table folder, or None (said in the log, unless not ``warn``)."""
    from acg2vec.datasets.acg_entities import schema

    folder = schema.entities_dir(datasets_root)
    if os.path.isfile(os.path.join(folder, schema.BUILD_METADATA)):
        return folder
    if not warn:
        return None
    log.warning(
        "no %s table at %s: works are grouped by acg_text_pairs' entity_id, so one work crawled from several "
        "sites may show once per source (build the table with `%s`)",
        schema.NAME,
        folder,
        schema.BUILD_COMMAND,
    )
    return None


def table_stamp(table: str | None) -> str | None:
    """Which build of the entities table an index was made from: its marker file's modification time."""
    from acg2vec.datasets.acg_entities import schema

    if table is None:
        return None
    return f"{os.path.getmtime(os.path.join(table, schema.BUILD_METADATA)):.0f}"


def entity_record(entity) -> dict:
    """A work of the entities table as ``works.parquet`` and the API hold it."""
    return {
        "entity_id": entity.entity_id,
        "kind": entity.kind,
        "titles": dict(entity.titles),
        "aliases": list(entity.aliases),
        "sources": [{"source": source, "source_id": source_id} for source, source_id in entity.sources],
    }


def link_works(table: str, pair_works: list[dict]) -> tuple[list[dict], int]:
    """The works of the entities table, each with its pairs' spellings the table lacks as aliases, then the corpus
    works the table does not know (a corpus built against another table), kept from their pairs and counted."""
    from acg2vec.datasets.acg_entities.records import read_entities

    works = {e.entity_id: entity_record(e) for e in read_entities(table, kind="work")}
    unlinked = 0
    for pair_work in pair_works:
        work = works.get(pair_work["entity_id"])
        if work is None:
            unlinked += 1
            works[pair_work["entity_id"]] = pair_work
            continue
        known = {*work["titles"].values(), *work["aliases"]}
        work["aliases"] += [t for t in [*pair_work["titles"].values(), *pair_work["aliases"]] if t not in known]
    if unlinked:
        log.warning(
            "%d of %d works of acg_text_pairs are not in the entities table at %s (rebuild the corpus against it); "
            "they are indexed from their pairs",
            unlinked,
            len(pair_works),
            table,
        )
    return [works[key] for key in sorted(works)], unlinked


def linked_tag_titles(table: str) -> dict[str, dict[str, str]]:
    """Tag (or name) -> the titles of the entity it names: the table's tag links (a pixiv translation or a name
    match tied a booru copyright / character tag to a work or character), then every title and alias of its works
    and characters (a tag that spells one of them). The tag list compares them by ``indexing.tag_key``."""
    from acg2vec.datasets.acg_entities.records import load_entities, read_tag_links

    entities = load_entities(table)
    titles: dict[str, dict[str, str]] = {}
    for link in read_tag_links(table):
        entity = entities.get(link.entity_id)
        if entity is not None and entity.titles:
            titles.setdefault(link.tag, dict(entity.titles))
    for entity in entities.values():
        if entity.kind in ("work", "character") and entity.titles:
            for name in entity.names():
                titles.setdefault(name, dict(entity.titles))
    return titles


def copy_entities(table: str | None, out_dir: str) -> None:
    """``index/entities/``: the table's files with their ``CHECKSUMS.json``, replacing the previous copy once whole;
    nothing when the workspace has no table."""
    import shutil

    from acg2vec.datasets.acg_entities import schema
    from acg2vec.integrity import atomic_folder

    if table is None:
        shutil.rmtree(out_dir, ignore_errors=True)  # never serve a table the works index was not built from
        return
    with atomic_folder(out_dir) as tmp:
        for name in (schema.ENTITIES_FILE, schema.TAG_LINKS_FILE, schema.BUILD_METADATA):
            if os.path.isfile(os.path.join(table, name)):
                shutil.copyfile(os.path.join(table, name), os.path.join(tmp, name))
