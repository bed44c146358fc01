"""Reading ``selected_tags.csv``: the vocabulary shipped with the dataset and with every exported image model.

Columns ``tag_id, name, category, count``; row order is the models' output order. Categories may be names
(``general``) or booru codes (``0``), read as names. Local or remote paths (``tf.io.gfile``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from acg2vec.datasets.acg_illustrations.schema import SELECTED_TAGS_FILE, category_name
from acg2vec.errors import UserError

COLUMNS = ("name", "category", "count")


@dataclass(frozen=True, slots=True)
class TagRow:
    name: str
    category: str
    count: int


def parse_selected_tags(text: str, *, where: str = SELECTED_TAGS_FILE) -> list[TagRow]:
    """The rows of a ``selected_tags.csv`` text; an empty file or missing columns is one sentence."""
    rows = list(csv.DictReader(io.StringIO(text)))
    missing = set(COLUMNS) - set(rows[0] if rows else {})
    if not rows or missing:
        raise UserError(f"{where} is empty or lacks the columns {sorted(missing)}.")
    return [TagRow(row["name"], category_name(row["category"]), int(float(row["count"] or 0))) for row in rows]


def read_selected_tags(path: str) -> list[TagRow]:
    """The rows of the ``selected_tags.csv`` at ``path`` (see :func:`parse_selected_tags`)."""
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        raise UserError(f"There is no {SELECTED_TAGS_FILE} at {path}.")
    with tf.io.gfile.GFile(path, "r") as fh:
        return parse_selected_tags(fh.read(), where=path)
