"""``acg2vec train text`` and ``acg2vec embed --text``."""

from __future__ import annotations

from pathlib import Path

from acg2vec.errors import NotBuiltYet


def train_text() -> None:
    raise NotBuiltYet("train text")


def embed_texts(*, inputs: list[Path], model: Path | None, out: Path | None, batch_size: int) -> None:
    raise NotBuiltYet("embed --text")
