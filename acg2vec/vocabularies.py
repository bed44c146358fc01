"""Vocabularies shared by several layers: the four ratings and the booru tag categories.

The lowest layer that needs them is the crawlers' item contract; the datasets' features, the image models and
the sample site use the same tuples, so they live here, in the core, with no project imports.
"""

from __future__ import annotations

RATINGS: tuple[str, ...] = ("general", "sensitive", "questionable", "explicit")
TAG_CATEGORIES: tuple[str, ...] = ("general", "artist", "copyright", "character", "meta")
