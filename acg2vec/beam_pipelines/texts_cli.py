"""``acg2vec build texts``."""

from __future__ import annotations

from acg2vec.errors import NotBuiltYet


def build_texts() -> None:
    raise NotBuiltYet("build texts")
