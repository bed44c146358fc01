"""``selected_tags.csv`` and ``thresholds.json``: the one reader and writer of the tag files shipped with the
dataset and with every exported image model.

``selected_tags.csv`` has the columns ``tag_id, name, category, count``; row order is the models' output order
and ``tag_id`` the row number. Categories may be names (``general``) or booru codes (``0``, as other taggers
write them), read as names. ``thresholds.json`` holds ``{"method", "default", "thresholds": {tag: value}}``.
Paths may be local or remote (``gs://``, read through ``tf.io.gfile``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass

from acg2vec.datasets.acg_illustrations.schema import SELECTED_TAGS_FILE, category_name
from acg2vec.errors import UserError

THRESHOLDS_FILE = "thresholds.json"
COLUMNS = ("name", "category", "count")
HEADER = ("tag_id", "name", "category", "count")


@dataclass(slots=True)
class TagVocabulary:
    """The tags of a dataset or a model in output order: ``names``, ``categories`` (names such as "general",
    "character"; booru codes are translated when read) and ``counts`` (training images per tag)."""

    names: list[str]
    categories: list[str]
    counts: list[int]

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, int]]) -> TagVocabulary:
        """From ``(name, category, count)`` rows in output order."""
        rows = list(rows)
        return cls([r[0] for r in rows], [r[1] for r in rows], [int(r[2]) for r in rows])

    def top(self, n: int | None) -> TagVocabulary:
        """The ``n`` most frequent tags (all when ``n`` is None), keeping the file's order among them."""
        if n is None or n >= len(self.names):
            return self
        keep = sorted(sorted(range(len(self.names)), key=lambda i: -self.counts[i])[:n])
        return TagVocabulary(
            [self.names[i] for i in keep], [self.categories[i] for i in keep], [self.counts[i] for i in keep]
        )

    def to_csv(self) -> str:
        """The text of ``selected_tags.csv`` (``\\n`` line ends; ``tag_id`` is the row number)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        for i, (name, category, count) in enumerate(zip(self.names, self.categories, self.counts, strict=True)):
            writer.writerow([i, name, category, count])
        return out.getvalue()

    def write(self, folder: str) -> str:
        """Write ``<folder>/selected_tags.csv``; returns its path."""
        path = f"{str(folder).rstrip('/')}/{SELECTED_TAGS_FILE}"
        _write_text(path, self.to_csv())
        return path

    @classmethod
    def parse(cls, text: str, *, where: str = SELECTED_TAGS_FILE) -> TagVocabulary:
        """The vocabulary of a ``selected_tags.csv`` text; an empty file or missing columns is one sentence."""
        rows = list(csv.DictReader(io.StringIO(text)))
        missing = set(COLUMNS) - set(rows[0] if rows else {})
        if not rows or missing:
            raise UserError(f"{where} is empty or lacks the columns {sorted(missing)} (tag_id,name,category,count).")
        return cls(
            [row["name"] for row in rows],
            [category_name(row["category"]) for row in rows],
            [int(float(row["count"] or 0)) for row in rows],
        )

    @classmethod
    def read(cls, path: str, *, missing: str = "") -> TagVocabulary:
        """The vocabulary in the ``selected_tags.csv`` at ``path``; ``missing`` says what to do without one."""
        text = _read_text(str(path))
        if text is None:
            raise UserError(f"There is no {SELECTED_TAGS_FILE} at {path}" + (f"; {missing}." if missing else "."))
        return cls.parse(text, where=str(path))


def csv_sha256(text: str) -> str:
    """The hash shipped beside ``selected_tags.csv`` (sha256 of its UTF-8 bytes)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_thresholds(folder: str, names: list[str]) -> tuple[object, str] | None:
    """Per-tag thresholds from ``<folder>/thresholds.json`` in the order of ``names`` (``default`` for tags it
    does not list) and the method that tuned them; None when the file is absent."""
    import numpy as np

    text = _read_text(f"{str(folder).rstrip('/')}/{THRESHOLDS_FILE}")
    if text is None:
        return None
    data = json.loads(text)
    default = float(data.get("default", 0.5))
    per_tag = data.get("thresholds", {})
    values = np.array([float(per_tag.get(name, default)) for name in names], dtype=np.float32)
    return values, str(data.get("method", ""))


def write_thresholds(folder: str, *, method: str, default: float, thresholds: dict[str, float]) -> str:
    """Write ``<folder>/thresholds.json``; returns its path."""
    path = f"{str(folder).rstrip('/')}/{THRESHOLDS_FILE}"
    data = {"method": method, "default": float(default), "thresholds": {k: float(v) for k, v in thresholds.items()}}
    _write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path


def _remote(path: str) -> bool:
    return "://" in path


def _read_text(path: str) -> str | None:
    """The file's text, or None when there is no file (remote paths through ``tf.io.gfile``)."""
    if _remote(path):
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path, "r") as fh:
            return fh.read()
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _write_text(path: str, text: str) -> None:
    if _remote(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "w") as fh:
            fh.write(text)
        return
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
