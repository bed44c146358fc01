"""The ``acg2vec`` command line: one sub-command per stage, each a thin call into library code.

Stage command modules import only typer and the standard library at the top, so ``--help`` is fast;
heavy libraries (TensorFlow, Beam, torch, Scrapy) are imported inside the commands.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from acg2vec import __version__
from acg2vec.beam_pipelines.images_cli import build_images
from acg2vec.beam_pipelines.texts_cli import build_texts
from acg2vec.cli_common import state
from acg2vec.crawlers.cli import app as crawl_app
from acg2vec.demo_cli import demo
from acg2vec.errors import UserError
from acg2vec.evaluation.cli import app as eval_app
from acg2vec.logs import console, setup_logging
from acg2vec.trainers.image.cli import embed_images, predict, train_deepix, train_tagger
from acg2vec.trainers.text.cli import embed_texts, train_text
from acg2vec.workspace import Workspace, default_workdir

app = typer.Typer(
    name="acg2vec",
    help=(
        "Turn public anime, comics and games (ACG) web data into datasets and vector models.\n\n"
        "Stages, each reading the previous one's files under the workdir: "
        "crawl -> build -> train -> eval. `acg2vec demo` runs them all on the bundled sample site."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

build_app = typer.Typer(help="Build TFDS datasets from raw crawl items with Apache Beam.", no_args_is_help=True)
build_app.command("images", help="Build the image/tag dataset acg_illustrations (sharded TFRecord).")(build_images)
build_app.command("texts", help="Build the multilingual text-pair corpus acg_text_pairs (TFDS + Parquet).")(
    build_texts
)

train_app = typer.Typer(
    help="Train taggers, deepix / illust2vec and the acgvoc2vec text encoder.", no_args_is_help=True
)
train_app.command("tagger", help="Train an illustration tagger (alt_i2v, deepdanbooru) on acg_illustrations.")(
    train_tagger
)
train_app.command("deepix", help="Train the multi-task deepix model and export its illust2vec encoder.")(train_deepix)
train_app.command("text", help="Fine-tune the acgvoc2vec sentence-transformers encoder on acg_text_pairs.")(train_text)

app.add_typer(crawl_app, name="crawl", help="Crawl a site (or import saved pixiv metadata) into raw/<source>/.")
app.add_typer(build_app, name="build")
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval", help="Evaluate models and indexes; write eval/<run>/report.md with plots.")
app.command("predict", help="Print the tags of images with an exported tagger.")(predict)
app.command("demo", help="Run every stage end to end, offline, on the bundled sample site.")(demo)


@app.command("embed", help="Write vectors with their ids (npy + Parquet): images by default, texts with --text.")
def embed(
    inputs: list[Path] = typer.Argument(..., help="Image files or folders; with --text, text files (one per line)."),
    model: Path = typer.Option(
        None, "--model", "-m", help="Model folder (default: the workdir's latest of its kind)."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Output prefix (writes <out>.npy and <out>.parquet)."),
    text: bool = typer.Option(False, "--text", help="Embed texts with the acgvoc2vec encoder instead of images."),
    batch_size: int = typer.Option(32, help="Inputs per batch."),
) -> None:
    if text:
        embed_texts(inputs=inputs, model=model, out=out, batch_size=batch_size)
    else:
        embed_images(inputs=inputs, model=model, out=out, batch_size=batch_size)


def _version(value: bool) -> None:
    if value:
        print(f"acg2vec {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    workdir: str = typer.Option(
        None,
        "--workdir",
        "-w",
        help=f"Root of everything a run reads and writes (default: $ACG2VEC_HOME or {default_workdir()}). "
        "May be a gs:// or s3:// URL where the stage's libraries support it.",
        show_default=False,
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Only warnings and errors on the console; no progress bars."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    ws = Workspace.at(workdir)
    state.workspace = ws
    state.quiet = quiet
    state.verbose = verbose
    state.log_file = setup_logging(None if "://" in ws.root else ws.ensure().logs(), quiet=quiet, verbose=verbose)


def main() -> None:
    """Console entry point: user mistakes become one line on stderr and a non-zero exit."""
    try:
        app()
    except UserError as err:
        console.print(f"[bold red]acg2vec:[/] {err}", highlight=False)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        console.print("[bold red]acg2vec:[/] interrupted.")
        sys.exit(130)
    finally:
        logging.shutdown()


if __name__ == "__main__":
    main()
