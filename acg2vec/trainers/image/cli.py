"""``acg2vec train tagger|deepix``, ``acg2vec predict``, image ``acg2vec embed``."""

from __future__ import annotations

from pathlib import Path

import typer

from acg2vec.errors import NotBuiltYet


def train_tagger(model: str = typer.Option("alt_i2v", help="Model name from the registry.")) -> None:
    raise NotBuiltYet("train tagger")


def train_deepix() -> None:
    raise NotBuiltYet("train deepix")


def predict(images: list[Path] = typer.Argument(..., help="Image files.")) -> None:
    raise NotBuiltYet("predict")


def embed_images(*, inputs: list[Path], model: Path | None, out: Path | None, batch_size: int) -> None:
    raise NotBuiltYet("embed (images)")
