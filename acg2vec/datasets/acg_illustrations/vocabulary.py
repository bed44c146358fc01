"""The tag vocabulary of ``acg_illustrations``: which tags a tagger predicts (written as ``selected_tags.csv`` by
:mod:`.selected_tags`).

Rules (documented in the dataset card):

1. Tags are counted on the **train** split only (images per tag, over the examples actually written: after
   filtering, de-duplication and decoding), so the vocabulary never peeks at validation or test images.
2. A tag is kept when it appears on at least ``min_images`` train images.
3. Per category, the most frequent tags are kept up to the category's cap (``general``, ``character``,
   ``copyright``, ``artist``; ``meta`` tags are never selected). Ties break by name, so the file is stable.
4. Rating is its own target (the ``rating`` feature), never a tag.

The vocabulary lists general tags first, then characters, copyrights and artists, each by count (descending).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary

CATEGORY_ORDER = ("general", "character", "copyright", "artist")


def _default_caps() -> dict[str, int]:
    return {"general": 5000, "character": 2000, "copyright": 500, "artist": 0}


@dataclass(slots=True)
class VocabularyRules:
    """Which tags make the vocabulary: a minimum of train images per tag and a cap per category."""

    min_images: int = 20
    caps: dict[str, int] = field(default_factory=_default_caps)


def choose_vocabulary(counts: Iterable[tuple[tuple[str, str], int]], rules: VocabularyRules) -> TagVocabulary:
    """``((category, tag), images)`` counts -> the selected tags, in file order."""
    by_category: dict[str, list[tuple[str, int]]] = {c: [] for c in CATEGORY_ORDER}
    for (category, name), count in counts:
        if category in by_category and count >= rules.min_images:
            by_category[category].append((name, count))
    selected: list[tuple[str, str, int]] = []
    for category in CATEGORY_ORDER:
        ranked = sorted(by_category[category], key=lambda nc: (-nc[1], nc[0]))
        selected.extend((name, category, count) for name, count in ranked[: max(0, rules.caps.get(category, 0))])
    return TagVocabulary.from_rows(selected)
