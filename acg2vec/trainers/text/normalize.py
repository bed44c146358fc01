"""Script normalisation, as the text trainers, evaluation and serving import it.

The one implementation is :mod:`acg2vec.datasets.normalize` (moved there so the entity linker of
``acg_entities``, a layer below the trainers, compares titles in the same form); this module re-exports it.
"""

from __future__ import annotations

from acg2vec.datasets.normalize import LONG_VOWEL_MARKS, NORMALIZATION, NORMALIZATIONS, normalize_text, normalizer

__all__ = ["LONG_VOWEL_MARKS", "NORMALIZATION", "NORMALIZATIONS", "normalize_text", "normalizer"]
