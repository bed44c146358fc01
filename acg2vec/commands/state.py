"""State shared by the CLI's commands: the workspace and output mode chosen by the global options.

The global options only record what the user chose. The workdir (and its log file) is created the first time a
command asks for it with ``workspace()``, so ``--help`` and ``--version`` write nothing.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from acg2vec.logs import FILE_ONLY, setup_logging
from acg2vec.workspace import Workspace


@dataclass(slots=True)
class CliState:
    workdir: str | None = None
    quiet: bool = False
    verbose: bool = False
    log_file: str | None = None
    _workspace: Workspace | None = None


log = logging.getLogger(__name__)

state = CliState()


def configure(*, workdir: str | None, quiet: bool, verbose: bool) -> None:
    """Record the global options; console logging starts now, the log file with the first ``workspace()``."""
    state.workdir, state.quiet, state.verbose = workdir, quiet, verbose
    state._workspace = None
    state.log_file = None
    setup_logging(None, quiet=quiet, verbose=verbose)


def workspace() -> Workspace:
    """The workspace chosen by ``--workdir`` / ``$ACG2VEC_HOME``, created (with its log file) on first use."""
    if state._workspace is None:
        ws = Workspace.at(state.workdir).ensure()
        state._workspace = ws
        state.log_file = setup_logging(
            None if "://" in ws.root else ws.logs(), quiet=state.quiet, verbose=state.verbose
        )
        log.info("acg2vec %s (workdir %s)", " ".join(sys.argv[1:]), ws.root, extra=FILE_ONLY)
    return state._workspace
