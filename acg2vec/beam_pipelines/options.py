"""Beam pipeline options for acg2vec builds: the local runner chosen explicitly, other runners passed through.

Beam's ``DirectRunner`` first tries the Prism runner, which downloads a binary; acg2vec never leaves it to
chance. ``runner="direct"`` (the default) names Beam's local batch runner class itself (``FnApiRunner``, what
the DirectRunner falls back to for batch jobs) with one worker per core in ``multi_processing`` mode
(``in_memory`` for tests: one process, no start-up cost). Any other runner
(``DataflowRunner``, ``FlinkRunner``, ``SparkRunner``, ``PrismRunner``) gets exactly the arguments the user
passed (``--project``, ``--region``, ``--temp_location``, ``--setup_file`` ...).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from acg2vec.errors import UserError

LOCAL_RUNNERS = ("direct", "directrunner", "fnapirunner")
# The local batch runner, by class path so Beam's runner switch (Prism first) is never consulted.
LOCAL_RUNNER_CLASS = "apache_beam.runners.portability.fn_api_runner.fn_runner.FnApiRunner"
RUNNING_MODES = ("multi_processing", "multi_threading", "in_memory")


@dataclass(slots=True)
class RunnerConfig:
    """Which Beam runner runs a build, and how.

    ``workers``: local worker processes (default: every core). ``mode``: the DirectRunner's running mode.
    ``args``: extra pipeline arguments, passed through unchanged (e.g. ``["--project=p", "--region=r"]``).
    """

    runner: str = "direct"
    workers: int | None = None
    mode: str = "multi_processing"
    args: Sequence[str] = field(default_factory=tuple)

    @property
    def is_local(self) -> bool:
        return self.runner.lower() in LOCAL_RUNNERS


def local_workers(workers: int | None = None) -> int:
    """The number of local worker processes: ``workers`` if given, else the cores this process may use."""
    if workers:
        return workers
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def pipeline_args(config: RunnerConfig) -> list[str]:
    """The command-line style arguments of a :class:`RunnerConfig` (what ``PipelineOptions`` parses)."""
    args = list(config.args)
    if any(a.startswith("--runner") for a in args):
        raise UserError("Choose the runner with --runner, not inside the pass-through pipeline arguments.")
    if config.is_local:
        if config.mode not in RUNNING_MODES:
            raise UserError(f"Unknown local running mode {config.mode!r}; choose one of {', '.join(RUNNING_MODES)}.")
        args = [
            f"--runner={LOCAL_RUNNER_CLASS}",
            f"--direct_num_workers={local_workers(config.workers) if config.mode != 'in_memory' else 1}",
            f"--direct_running_mode={config.mode}",
            *args,
        ]
    else:
        args = [f"--runner={config.runner}", *args]
    return args


def pipeline_options(config: RunnerConfig | None = None, **overrides: object):
    """``PipelineOptions`` for ``config`` (default: local, every core); ``overrides`` set options by name."""
    from apache_beam.options.pipeline_options import PipelineOptions

    config = config or RunnerConfig()
    try:
        return PipelineOptions(pipeline_args(config), **overrides)
    except SystemExit as err:  # argparse's way of rejecting an option
        raise UserError(f"Beam rejected the pipeline arguments {list(config.args)}.") from err


def dataflow_dry_run_config(config: RunnerConfig) -> RunnerConfig:
    """The same runner config turned into a Dataflow dry run (the job description is built, never submitted).

    Nothing is submitted and no credentials are needed: Beam builds the job (graph, environment, options) and
    stops before staging files or calling the Dataflow service.
    """
    defaults = {
        "--project": "acg2vec-dry-run",
        "--region": "us-central1",
        "--temp_location": "gs://acg2vec-dry-run/tmp",
        "--sdk_location": "container",
    }
    args = list(config.args)
    given = {a.split("=", 1)[0] for a in args}
    args += [f"{k}={v}" for k, v in defaults.items() if k not in given]
    args += ["--dry_run=True", "--no_auth"]
    return RunnerConfig(runner="DataflowRunner", args=tuple(args))
