"""The metadata the API returns, read from the index folders: posts (with thumbnails), works, tags."""

from __future__ import annotations

import bisect
import json
import os
from dataclasses import dataclass

import numpy as np

from acg2vec.errors import UserError
from acg2vec.serving.indexing import POSTS_FILE, TAGS_FILE, THUMBNAILS_FILE, TITLES_FILE, WORKS_FILE, tag_key


def _read(path: str, what: str):
    import pyarrow.parquet as pq

    if not os.path.isfile(path):
        raise UserError(f"no {what} at {path}; build it with `acg2vec index`.")
    return pq.read_table(path)


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


class Works:
    """Works with their titles in every language, and which work each indexed title row belongs to."""

    def __init__(self, index_dir: str) -> None:
        works = _read(os.path.join(index_dir, WORKS_FILE), "work metadata").to_pylist()
        self.works = [
            {"entity_id": w["entity_id"], "titles": json.loads(w["titles"]), "aliases": list(w["aliases"])}
            for w in works
        ]
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
