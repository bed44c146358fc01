"""State shared by the CLI's commands: the workspace and output mode chosen by the global options."""

from __future__ import annotations

from dataclasses import dataclass

from acg2vec.workspace import Workspace


@dataclass(slots=True)
class CliState:
    workspace: Workspace | None = None
    quiet: bool = False
    verbose: bool = False
    log_file: str | None = None


state = CliState()


def workspace() -> Workspace:
    """The workspace chosen by ``--workdir`` / ``$ACG2VEC_HOME`` (created on first use)."""
    if state.workspace is None:
        state.workspace = Workspace.at(None)
    return state.workspace.ensure()
