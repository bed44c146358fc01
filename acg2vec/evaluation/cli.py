"""``acg2vec eval tagger|images|texts|ann``."""

from __future__ import annotations

import typer

from acg2vec.errors import NotBuiltYet

app = typer.Typer(no_args_is_help=True)


@app.command("tagger", help="Tagging metrics of a tagger on the validation split, with PR curves.")
def tagger() -> None:
    raise NotBuiltYet("eval tagger")


@app.command("images", help="Image retrieval with illust2vec vectors and FAISS.")
def images() -> None:
    raise NotBuiltYet("eval images")


@app.command("texts", help="Text retrieval on held-out entities with the acgvoc2vec encoder.")
def texts() -> None:
    raise NotBuiltYet("eval texts")


@app.command("ann", help="FAISS index benchmark: recall against exact search, QPS, bytes.")
def ann() -> None:
    raise NotBuiltYet("eval ann")
