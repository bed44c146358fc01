"""The metadata the API returns, read from the index folders: posts (with thumbnails), works, entities, tags."""

from __future__ import annotations

import bisect
import json
import logging
import os
from dataclasses import asdict, dataclass

import numpy as np

from acg2vec.errors import UserError
from acg2vec.serving.entity_index import entity_record
from acg2vec.serving.indexing import (
    POSTS_FILE,
    TAGS_FILE,
    THUMBNAILS_FILE,
    TITLES_FILE,
    WORKS_FILE,
    tag_key,
)

log = logging.getLogger(__name__)

# The title a result shows first: the first of these languages it has (the table's and the corpus's codes).
TITLE_ORDER = ("ja", "zh-Hans", "zh", "zh-Hant", "en", "romaji", "und")


def _read(path: str, what: str):
    import pyarrow.parquet as pq

    from acg2vec.integrity import DamagedFileError
    from acg2vec.serving.stores.base import repair_command

    if not os.path.isfile(path):
        raise UserError(f"no {what} at {path}; build it with `acg2vec index`.")
    try:
        return pq.read_table(path)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        lost = f"the {what} cannot be served"
        raise DamagedFileError(
            path, f"not a readable Parquet file: {err}", lost=lost, repair=repair_command(os.path.dirname(path))
        ) from None


class Posts:
    """Posts by id: tags, rating, score, source URL; thumbnails read from the memory-mapped JPEG file."""

    def __init__(self, index_dir: str) -> None:
        rows = _read(os.path.join(index_dir, POSTS_FILE), "post metadata").to_pylist()
        self.by_id = {int(row["id"]): row for row in rows}
        path = os.path.join(index_dir, THUMBNAILS_FILE)
        self.thumbnails = np.memmap(path, dtype=np.uint8, mode="r") if os.path.getsize(path) else np.zeros(0, np.uint8)

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, post_id: int) -> dict | None:
        row = self.by_id.get(int(post_id))
        if row is None:
            return None
        return {
            "id": int(row["id"]),
            "md5": row["md5"],
            "tags": list(row["tags"]),
            "characters": list(row["characters"]),
            "copyrights": list(row["copyrights"]),
            "artists": list(row["artists"]),
            "rating": row["rating"],
            "score": int(row["score"]),
            "source_url": row["source_url"],
            "thumbnail_url": f"/v1/posts/{int(row['id'])}/thumbnail",
        }

    def thumbnail(self, post_id: int) -> bytes | None:
        row = self.by_id.get(int(post_id))
        if row is None:
            return None
        start = int(row["thumb_offset"])
        return bytes(self.thumbnails[start : start + int(row["thumb_size"])])

    def keep(self, *, ratings: set[str] | None, required_tags: set[str] | None):
        """A predicate on post ids for the filters (None when there is nothing to filter)."""
        if not ratings and not required_tags:
            return None

        def keep(post_id: int) -> bool:
            row = self.by_id.get(post_id)
            if row is None:
                return False
            if ratings and row["rating"] not in ratings:
                return False
            if required_tags:
                have = {*row["tags"], *row["characters"], *row["copyrights"], *row["artists"]}
                return required_tags <= have
            return True

        return keep


def display_title(titles: dict[str, str], aliases: list[str], entity_id: str) -> str:
    for lang in (*TITLE_ORDER, *sorted(titles)):
        if titles.get(lang):
            return titles[lang]
    return aliases[0] if aliases else entity_id


def entity_url(entity_id: str) -> str:
    return f"/v1/entities/{entity_id}"


class Works:
    """Works (one per entity) with their titles in every language, aliases and sources, and which work each
    indexed title row belongs to."""

    def __init__(self, index_dir: str) -> None:
        works = _read(os.path.join(index_dir, WORKS_FILE), "work metadata").to_pylist()
        self.works = [_work(w) for w in works]
        titles = _read(os.path.join(index_dir, TITLES_FILE), "work titles")
        self.work_of_row = np.asarray(titles.column("work").to_numpy(), dtype=np.int64)
        self.text_of_row = titles.column("text").to_pylist()

    def __len__(self) -> int:
        return len(self.works)

    def group(self, hits: list[tuple[int, float]], k: int) -> list[dict]:
        """Title-row hits -> the ``k`` best works, each scored by its best title and naming the title matched."""
        best: dict[int, tuple[float, int]] = {}
        for row, score in hits:
            work = int(self.work_of_row[row])
            if work not in best or score > best[work][0]:
                best[work] = (score, row)
        ranked = sorted(best.items(), key=lambda item: -item[1][0])[:k]
        return [
            {**self.works[w], "score": round(float(score), 6), "matched": self.text_of_row[row]}
            for w, (score, row) in ranked
        ]


def _work(row: dict) -> dict:
    """A ``works.parquet`` row as the API answers it (an index written before entities has no kind or sources)."""
    titles = json.loads(row["titles"])
    aliases = list(row["aliases"])
    return {
        "entity_id": row["entity_id"],
        "kind": row.get("kind") or "work",
        "title": display_title(titles, aliases, row["entity_id"]),
        "titles": titles,
        "aliases": aliases,
        "sources": json.loads(row["sources"]) if row.get("sources") else [],
        "url": entity_url(row["entity_id"]),
    }


class Entities:
    """``GET /v1/entities/{id}``: the works, characters and people of the entities table ``index texts`` copied
    into ``index/entities/`` (with the evidence that linked each record), else the works of the works index.

    The table's rows stay :class:`~acg2vec.datasets.acg_entities.schema.Entity` objects (slotted) until asked for.
    """

    def __init__(self, *, table: str | None, entities: dict | None = None, works: dict[str, dict] | None = None):
        self.table = table
        self.entities = entities or {}
        self.works = works or {}

    @classmethod
    def load(cls, entities_dir: str, works: Works | None) -> Entities | None:
        from acg2vec.datasets.acg_entities import schema

        if os.path.isfile(os.path.join(entities_dir, schema.BUILD_METADATA)):
            from acg2vec.datasets.acg_entities.records import load_entities

            return cls(table=entities_dir, entities=load_entities(entities_dir))
        if works is None:
            return None
        log.warning(
            "no entities table in %s: /v1/entities answers the works of the works index, grouped by "
            "acg_text_pairs' entity_id",
            entities_dir,
        )
        fields = {"evidence": [], "works": [], "voice_actors": []}
        return cls(table=None, works={w["entity_id"]: {**w, **fields} for w in works.works})

    def __len__(self) -> int:
        return len(self.entities) or len(self.works)

    def get(self, entity_id: str) -> dict | None:
        entity = self.entities.get(entity_id)
        return _entity(entity) if entity is not None else self.works.get(entity_id)


def _entity(entity) -> dict:
    """A row of the entities table as the API answers it: a work's fields, and how each record was linked."""
    record = entity_record(entity)
    return {
        **record,
        "title": display_title(record["titles"], record["aliases"], entity.entity_id),
        "url": entity_url(entity.entity_id),
        "evidence": [asdict(e) for e in entity.evidence],
        "works": list(entity.works),
        "voice_actors": list(entity.voice_actors),
    }


@dataclass(slots=True)
class Tags:
    """Tag autocomplete: prefix search over tag names and their translations, most used tags first."""

    rows: list[dict]
    keys: list[str]
    owners: list[int]

    @classmethod
    def load(cls, index_dir: str) -> Tags:
        rows = _read(os.path.join(index_dir, TAGS_FILE), "tag list").to_pylist()
        pairs = []
        for i, row in enumerate(rows):
            row["translations"] = json.loads(row["translations"])
            names = [row["name"], *(t for texts in row["translations"].values() for t in texts)]
            pairs.extend((key, i) for key in {tag_key(n) for n in names} if key)
        pairs.sort()
        return cls(rows, [k for k, _ in pairs], [i for _, i in pairs])

    def __len__(self) -> int:
        return len(self.rows)

    def complete(self, prefix: str, *, limit: int = 10) -> list[dict]:
        key = tag_key(prefix)
        if not key:
            return []
        start = bisect.bisect_left(self.keys, key)
        found: dict[int, str] = {}
        for j in range(start, len(self.keys)):
            if not self.keys[j].startswith(key):
                break
            found.setdefault(self.owners[j], self.keys[j])
        ranked = sorted(found, key=lambda i: (-self.rows[i]["count"], self.rows[i]["name"]))[:limit]
        return [
            {
                "name": self.rows[i]["name"],
                "category": self.rows[i]["category"],
                "count": int(self.rows[i]["count"]),
                "source": self.rows[i]["source"],
                "translations": self.rows[i]["translations"],
            }
            for i in ranked
        ]
