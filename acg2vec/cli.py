"""The ``acg2vec`` command line: one sub-command per stage, each a thin call into library code.

The stage commands live in ``acg2vec/commands/`` (one module per stage); this module wires them into one typer
app and turns a user's mistake into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import logging
import sys

import typer

from acg2vec import __version__
from acg2vec.commands import build, crawl, curate, demo, index, predict, serve, train
from acg2vec.commands import eval as eval_commands
from acg2vec.commands.state import configure
from acg2vec.errors import UserError
from acg2vec.logs import FILE_ONLY, console
from acg2vec.native_logs import quiet_native_startup
from acg2vec.workspace import default_workdir

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

# Each stage module exposes its typer app: a group is added under its name, a module of single commands
# (predict and embed, demo, serve) at the top level.
app.add_typer(crawl.app, name="crawl", help="Crawl a site (or import saved pixiv metadata) into raw/<source>/.")
app.add_typer(build.app, name="build")
app.add_typer(curate.app)
app.add_typer(train.app, name="train")
app.add_typer(
    eval_commands.app, name="eval", help="Evaluate models and indexes; write eval/<run>/report.md with plots."
)
app.add_typer(predict.app)
app.add_typer(demo.app)
app.add_typer(index.app, name="index", help="Build the vector indexes `serve` searches (images, texts) under index/.")
app.add_typer(serve.app)


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
    configure(workdir=workdir, quiet=quiet, verbose=verbose)


def main() -> None:
    """Console entry point: user mistakes become one line on stderr and a non-zero exit."""
    # Before any command imports TensorFlow: its C++ start-up lines go to the log file, not the console.
    quiet_native_startup()
    try:
        # Not standalone: click's usage errors (a value out of range, an unknown option) come here and are told
        # in one line like every other user mistake, instead of a usage box.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.TyperException as err:  # click's ClickException (typer vendors click)
        where = err.ctx.command_path if getattr(err, "ctx", None) is not None else "acg2vec"
        message = (err.format_message() if hasattr(err, "format_message") else str(err)).rstrip(".")
        console.print(f"[bold red]{where}:[/] {message}.", highlight=False, soft_wrap=True, markup=True)
        sys.exit(err.exit_code)
    except typer.Abort:
        console.print("[bold red]acg2vec:[/] interrupted.")
        sys.exit(130)
    except UserError as err:
        logging.getLogger(__name__).error("%s", err, extra=FILE_ONLY)
        console.print(f"[bold red]acg2vec:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        console.print("[bold red]acg2vec:[/] interrupted.")
        sys.exit(130)
    finally:
        logging.shutdown()


if __name__ == "__main__":
    main()
