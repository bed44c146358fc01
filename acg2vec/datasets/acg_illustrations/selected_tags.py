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
import os
from collections.abc import Iterable
from dataclasses import dataclass

from acg2vec.datasets.acg_illustrations.schema import SELECTED_TAGS_FILE, category_name
from acg2vec.datasets.versions import read_bytes_if_present
from acg2vec.errors import UserError
from acg2vec.integrity import DamagedFileError, atomic_write_text, decode_utf8

THRESHOLDS_FILE = "thresholds.json"
COLUMNS = ("name", "category", "count")
HEADER = ("tag_id", "name", "category", "count")
SHA256_SUFFIX = ".sha256"  # selected_tags.csv.sha256: the hash a dataset build writes beside its vocabulary


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
    def parse(cls, text: str, *, where: str = SELECTED_TAGS_FILE, repair: str = "") -> TagVocabulary:
        """The vocabulary of a ``selected_tags.csv`` text; a file that is empty, cut short, of another kind or of
        another format is a :class:`~acg2vec.integrity.DamagedFileError` naming ``where`` with ``repair``."""

        def damaged(problem: str) -> DamagedFileError:
            return DamagedFileError(where, problem, lost="the tag vocabulary cannot be read", repair=repair)

        if not text.strip():
            raise damaged("it is empty")
        reader = csv.DictReader(io.StringIO(text))
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise damaged(
                f"it lacks the columns {', '.join(sorted(missing))} of tag_id,name,category,count: it is another "
                "kind of file, or from another program or an older acg2vec"
            )
        rows = list(reader)
        if not rows:
            raise damaged("it has a header and no tags")
        names, categories, counts = [], [], []
        for number, row in enumerate(rows, start=1):
            if None in row or any(row.get(column) is None for column in COLUMNS):
                raise damaged(f"row {number} has {'more' if None in row else 'fewer'} fields than the header")
            try:
                counts.append(int(float(row["count"] or 0)))
            except ValueError:
                raise damaged(f"row {number}'s count {row['count'][:20]!r} is not a number") from None
            names.append(row["name"])
            categories.append(category_name(row["category"]))
        # acg2vec writes tag_id as the row number and ends every row with a line end: a file of ours that breaks
        # either was cut short (other taggers' files keep their own ids and are not held to this).
        ours = tuple(reader.fieldnames or ()) == HEADER and all(row["tag_id"] == str(i) for i, row in enumerate(rows))
        if ours and not text.endswith(("\n", "\r")):
            raise damaged("its last row has no line end: the file was cut short")
        return cls(names, categories, counts)

    @classmethod
    def read(cls, path: str, *, missing: str = "", repair: str = "") -> TagVocabulary:
        """The vocabulary in the ``selected_tags.csv`` at ``path``; ``missing`` says what to do without one.

        A damaged file is one sentence with ``repair`` (default: the command that rebuilds the dataset when the file
        sits in a dataset version); the SHA-256 in a ``selected_tags.csv.sha256`` beside it is checked."""
        path = str(path)
        data = read_bytes_if_present(path)
        if data is None:
            raise UserError(f"There is no {SELECTED_TAGS_FILE} at {path}" + (f"; {missing}." if missing else "."))
        repair = repair or _default_repair(path)
        text = decode_utf8(path, data, lost="the tag vocabulary cannot be read", repair=repair)
        recorded = read_bytes_if_present(path + SHA256_SUFFIX)
        if recorded is not None and recorded.decode("ascii", "replace").strip() != csv_sha256(text):
            raise DamagedFileError(
                path,
                f"its SHA-256 differs from the one recorded in {SELECTED_TAGS_FILE}{SHA256_SUFFIX} when it was written",
                lost="the tag vocabulary cannot be trusted",
                repair=repair,
            )
        return cls.parse(text, where=path, repair=repair)


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


def _exists(path: str) -> bool:
    if _remote(path):
        import tensorflow as tf

        return tf.io.gfile.exists(path)
    return os.path.exists(path)


def _default_repair(path: str) -> str:
    """How to get a damaged ``selected_tags.csv`` back when the reader did not say: rebuild the dataset version it
    belongs to (readers of a version pass the exact command, with the version's rules:
    :func:`acg2vec.datasets.published.read_vocabulary`), or re-export the model whose folder holds it."""
    folder = path.rsplit("/", 1)[0] if "/" in path else "."
    if _exists(f"{folder}/dataset_info.json") or _exists(f"{folder}/metadata.json"):
        parts = folder.rstrip("/").split("/")
        config = parts[-2] if len(parts) >= 2 and parts[-2].isdigit() else "<size>"
        return f"acg2vec build images --config {config}"
    return "train or export the model again, or copy its folder again from where it came from"


def _write_text(path: str, text: str) -> None:
    """Written whole or not at all: a local file through a temporary beside it (fsync, rename), so a reader never
    sees half a vocabulary; object stores replace an object whole anyway."""
    if _remote(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "w") as fh:
            fh.write(text)
        return
    atomic_write_text(path, text)
