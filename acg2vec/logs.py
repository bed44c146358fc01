"""Logging to the console (rich) and to a file in the workdir; progress bars that respect quiet mode."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)
_quiet = False


def setup_logging(
    log_dir: str | None = None, *, quiet: bool = False, verbose: bool = False, name: str = "acg2vec"
) -> str | None:
    """Console logging (warnings only when quiet) plus a timestamped log file in ``log_dir``.

    Returns the log file path, or None when no local log dir is given.
    """
    global _quiet
    _quiet = quiet
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_acg2vec", False):
            root.removeHandler(handler)
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    console_handler = RichHandler(console=console, show_path=False, rich_tracebacks=False, markup=False)
    console_handler.setLevel(level)
    console_handler.addFilter(lambda record: not getattr(record, "file_only", False))
    console_handler._acg2vec = True  # type: ignore[attr-defined]
    root.addHandler(console_handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    log_file = None
    if log_dir and "://" not in log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        log_file = str(Path(log_dir) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.log")
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setLevel(logging.DEBUG if verbose else logging.INFO)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        file_handler._acg2vec = True  # type: ignore[attr-defined]
        root.addHandler(file_handler)
    # Libraries that are chatty at INFO.
    for noisy in ("absl", "h5py", "urllib3", "filelock", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_file


FILE_ONLY = {"file_only": True}
"""``log.info(..., extra=FILE_ONLY)`` writes a record to the log file but not to the console."""


def make_progress() -> Progress:
    """A rich progress bar on stderr; disabled in quiet mode."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=_quiet,
        transient=False,
    )


@contextmanager
def progress_task(description: str, total: int | None = None) -> Iterator[callable]:
    """``with progress_task("Encoding", total=n) as advance: advance(k)``."""
    with make_progress() as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
