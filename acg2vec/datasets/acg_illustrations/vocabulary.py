"""The tag vocabulary of ``acg_illustrations``: which tags a tagger predicts, and ``selected_tags.csv``.

Rules (documented in the dataset card):

1. Tags are counted on the **train** split only (images per tag, over the examples actually written: after
   filtering, de-duplication and decoding), so the vocabulary never peeks at validation or test images.
2. A tag is kept when it appears on at least ``min_images`` train images.
3. Per category, the most frequent tags are kept up to the category's cap (``general``, ``character``,
   ``copyright``, ``artist``; ``meta`` tags are never selected). Ties break by name, so the file is stable.
4. Rating is its own target (the ``rating`` feature), never a tag.

The file lists general tags first, then characters, copyrights and artists, each by count (descending);
``tag_id`` is the row number.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

CATEGORY_ORDER = ("general", "character", "copyright", "artist")


def _default_caps() -> dict[str, int]:
    return {"general": 5000, "character": 2000, "copyright": 500, "artist": 0}


@dataclass(slots=True)
class VocabularyRules:
    """Which tags make the vocabulary: a minimum of train images per tag and a cap per category."""

    min_images: int = 20
    caps: dict[str, int] = field(default_factory=_default_caps)


@dataclass(slots=True)
class SelectedTag:
    tag_id: int
    name: str
    category: str
    count: int


def choose_vocabulary(counts: Iterable[tuple[tuple[str, str], int]], rules: VocabularyRules) -> list[SelectedTag]:
    """``((category, tag), images)`` counts -> the selected tags, in file order."""
    by_category: dict[str, list[tuple[str, int]]] = {c: [] for c in CATEGORY_ORDER}
    for (category, name), count in counts:
        if category in by_category and count >= rules.min_images:
            by_category[category].append((name, count))
    selected: list[SelectedTag] = []
    for category in CATEGORY_ORDER:
        ranked = sorted(by_category[category], key=lambda nc: (-nc[1], nc[0]))
        for name, count in ranked[: max(0, rules.caps.get(category, 0))]:
            selected.append(SelectedTag(len(selected), name, category, count))
    return selected


def vocabulary_csv(tags: list[SelectedTag]) -> str:
    """The text of ``selected_tags.csv`` (header ``tag_id,name,category,count``; ``\\n`` line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["tag_id", "name", "category", "count"])
    for tag in tags:
        writer.writerow([tag.tag_id, tag.name, tag.category, tag.count])
    return out.getvalue()


def csv_sha256(text: str) -> str:
    """The hash shipped beside ``selected_tags.csv`` (sha256 of its UTF-8 bytes)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_vocabulary_csv(text: str) -> list[SelectedTag]:
    """Parse ``selected_tags.csv`` text back into :class:`SelectedTag` rows."""
    rows = csv.DictReader(io.StringIO(text))
    return [SelectedTag(int(r["tag_id"]), r["name"], r["category"], int(r["count"])) for r in rows]
