"""``acg2vec build images``."""

from __future__ import annotations

import typer

from acg2vec.errors import NotBuiltYet


def build_images(config: str = typer.Option("224", help="Builder config: image size (224, 448, 512).")) -> None:
    raise NotBuiltYet("build images")
