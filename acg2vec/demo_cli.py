"""``acg2vec demo``: every stage end to end on the bundled sample site."""

from __future__ import annotations

from acg2vec.errors import NotBuiltYet


def demo() -> None:
    raise NotBuiltYet("demo")
