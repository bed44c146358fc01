"""``acg2vec predict`` and ``acg2vec embed``: tags and vectors of a user's own images and texts.

Only typer, the standard library and acg2vec's core are imported here; TensorFlow and torch load inside the
commands.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from acg2vec.commands.options import renamed
from acg2vec.commands.state import state, workspace
from acg2vec.deadletter import DeadLetters, dead_letter_path
from acg2vec.errors import UserError
from acg2vec.imaging import MAX_PIXELS
from acg2vec.logs import console

log = logging.getLogger(__name__)

app = typer.Typer()

_MAX_PIXELS = typer.Option(
    MAX_PIXELS,
    "--max-pixels",
    min=1,
    help="Decompression-bomb limit: images with more pixels (from the file header) are skipped, not decoded.",
)


def _say_skipped(path: Path, reason: str, detail: str) -> None:
    typer.echo(f"skipped {path}: {reason} ({detail})", err=True)


def _skipped_file() -> str:
    """Where predict dead-letters the files it skips: ``<workdir>/logs/dead_letters/predict.jsonl.gz``.

    predict prints to stdout and has no output folder, so its dead letters go beside the logs.
    """
    return dead_letter_path(workspace().logs(), "predict")


@app.command("predict", help="Print the tags of images with an exported tagger.")
def predict(
    images: list[Path] = typer.Argument(..., help="Image files or folders of images."),
    model: Path = typer.Option(
        None,
        "--model",
        "-m",
        help="Exported tagger folder (default: <workdir>/models/deepdanbooru, alt_i2v or deepix).",
    ),
    top_k: int = typer.Option(
        None, "--top-k", "-k", min=1, help="Print the K best tags instead of those above the tuned thresholds."
    ),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Images per batch."),
    max_pixels: int = _MAX_PIXELS,
) -> None:
    """Print each image's tags with their scores: those above the model's tuned thresholds, or the top K.

    Files that cannot be tagged are named on stderr with their reason as they are met, and dead-lettered in
    <workdir>/logs/dead_letters/predict.jsonl.gz.
    """
    from acg2vec.trainers.image import predict as predict_lib
    from acg2vec.trainers.image.models import registry

    model_dir = (
        str(model)
        if model
        else predict_lib.find_model(workspace().models(), registry.TAGGER_PREFERENCE, what="tagger")
    )
    files = predict_lib.expand_inputs(images)
    tagged = 0
    with DeadLetters(_skipped_file(), step="predict") as dead:
        results = predict_lib.predict_tags(
            files, model_dir=model_dir, top_k=top_k, batch_size=batch_size, dead=dead, max_pixels=max_pixels,
            on_skip=_say_skipped,
        )  # fmt: skip
        for result in results:
            tags = ", ".join(f"{t.name} ({t.score:.3f})" for t in result.tags) or "(no tag above its threshold)"
            typer.echo(f"{result.path}: {tags}")
            tagged += 1
    if dead.total:
        counts = ", ".join(f"{n} {reason}" for reason, n in sorted(dead.counts.items()))
        typer.echo(f"skipped {dead.total} of {len(files)} file(s) ({counts}); listed in {dead.path}", err=True)
    if not tagged and dead.total:
        raise UserError(f"None of the {dead.total} input file(s) could be read as an image.")


def embed_images(
    *, inputs: list[Path], model: Path | None, out: Path | None, batch_size: int, max_pixels: int
) -> None:
    """Write image vectors with their ids: ``<out>.npy`` and ``<out>.parquet`` (id, path, row, vector)."""
    from acg2vec.trainers.image import predict as predict_lib
    from acg2vec.trainers.image.models import registry

    predict_lib.check_batch_size(batch_size)
    ws = workspace()
    model_dir = (
        str(model) if model else predict_lib.find_model(ws.models(), registry.EMBEDDER_PREFERENCE, what="image")
    )
    out = out or Path(ws.root) / "embeddings" / f"images-{Path(model_dir).name}"
    files = predict_lib.expand_inputs(inputs)
    with DeadLetters(dead_letter_path(out.parent, "embed"), step="embed") as dead:
        written = predict_lib.embed_files(
            files, model_dir=model_dir, out=str(out), batch_size=batch_size, dead=dead, max_pixels=max_pixels,
            on_skip=_say_skipped,
        )  # fmt: skip
    log.info("Embedded %d of %d files (%d skipped: %s)", written, len(files), dead.total, dict(dead.counts))
    skipped = f"; {dead.total} skipped, listed in {dead.path}" if dead.total else ""
    typer.echo(f"wrote {written} vectors to {out}.npy and {out}.parquet{skipped}")


def embed_texts(*, inputs: list[Path], model: Path | None, out: Path | None, batch_size: int) -> None:
    """Embed text files (one text per line) into <out>.npy + <out>.parquet (ids = file:line)."""
    from acg2vec.trainers.text.embed import embed_text_files

    ws = workspace()
    model = model or Path(ws.models("acgvoc2vec"))
    out = out or Path(ws.root) / "embeddings" / "acgvoc2vec-texts"
    result = embed_text_files(inputs=inputs, model=model, out=out, batch_size=batch_size)
    if not state.quiet:
        console.print(
            f"Wrote {result.written} vectors to {result.vectors_path} (ids in {result.ids_path}); "
            f"{result.read - result.written} lines skipped {result.dropped or ''}"
            + (f" (listed in {result.dead_letters})" if result.dropped else "")
        )


@app.command("embed", help="Write vectors with their ids (npy + Parquet): images by default, texts with --text.")
def embed(
    inputs: list[Path] = typer.Argument(..., help="Image files or folders; with --text, text files (one per line)."),
    model: Path = typer.Option(
        None, "--model", "-m", help="Model folder (default: the workdir's latest of its kind)."
    ),
    output: Path = typer.Option(
        None, "--output", "-o", help="Output prefix (writes <output>.npy and <output>.parquet)."
    ),
    text: bool = typer.Option(False, "--text", help="Embed texts with the acgvoc2vec encoder instead of images."),
    batch_size: int = typer.Option(32, min=1, help="Inputs per batch."),
    max_pixels: int = _MAX_PIXELS,
    old_out: Path = typer.Option(None, "--out", hidden=True),
) -> None:
    """Write vectors with their ids (npy + Parquet): images by default, texts with --text.

    Images that cannot be embedded (unreadable, not an image, over --max-pixels) are named on stderr and
    dead-lettered in dead_letters/embed.jsonl.gz beside <output> (lines of --text in
    dead_letters/embed-texts.jsonl.gz).
    """
    out = renamed(output, old_out, new="--output", old="--out")
    if text:
        embed_texts(inputs=inputs, model=model, out=out, batch_size=batch_size)
    else:
        embed_images(inputs=inputs, model=model, out=out, batch_size=batch_size, max_pixels=max_pixels)
