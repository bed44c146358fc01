"""Beam pipeline options for acg2vec builds: the local runner chosen explicitly, other runners passed through.

Beam's ``DirectRunner`` first tries the Prism runner, which downloads a binary; acg2vec never leaves it to
chance. ``runner="direct"`` (the default) names Beam's local batch runner class itself (``FnApiRunner``, what
the DirectRunner falls back to for batch jobs) with one worker per core in ``multi_processing`` mode
(``in_memory`` for tests: one process, no start-up cost). ``runner="portable"`` (a Beam job server: Flink, Spark,
or Beam's own local job service) and ``runner="dask"`` (a Dask ``distributed`` cluster) are set up by
:mod:`acg2vec.beam_pipelines.runners` (docs/runners.md). Any other runner (``DataflowRunner``, ``FlinkRunner``,
``SparkRunner``, ``PrismRunner``) gets exactly the arguments the user passed (``--project``, ``--region``,
``--temp_location``, ``--setup_file`` ...).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from acg2vec.beam_pipelines.runners import (  # noqa: F401 - RunnerConfig is also this module's
    LOCAL_RUNNERS,
    QUIET_WORKER_ENV,
    RunnerConfig,
    check_runner_addresses,
    dask_args,
    portable_args,
    runner_kind,
    start_services,
)
from acg2vec.errors import UserError

log = logging.getLogger(__name__)

# The local batch runner, by class path so Beam's runner switch (Prism first) is never consulted.
LOCAL_RUNNER_CLASS = "apache_beam.runners.portability.fn_api_runner.fn_runner.FnApiRunner"
RUNNING_MODES = ("multi_processing", "multi_threading", "in_memory")


@dataclass(slots=True)
class BuildOptions:
    """How a build runs, never what it builds (both builds take these, as ``build(workspace, config, options=)``).

    ``buckets``: hash buckets of the flat-memory passes (0: sized from the input; the count never changes the
    result). ``dry_run_dataflow``: a JSON path; describe the Dataflow job(s) there instead of building.
    ``keep_temp``: keep the bucket files (for debugging). ``skip_damaged``: build without the raw shards found
    damaged (:mod:`acg2vec.beam_pipelines.raw_shards`) instead of refusing them, and record them in the card.
    """

    runner: RunnerConfig = field(default_factory=RunnerConfig)
    buckets: int = 0
    dry_run_dataflow: str | None = None
    keep_temp: bool = False
    skip_damaged: bool = False


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
    check_runner_addresses(config)
    if config.is_local:
        if config.mode not in RUNNING_MODES:
            raise UserError(f"Unknown local running mode {config.mode!r}; choose one of {', '.join(RUNNING_MODES)}.")
        args = [
            f"--runner={LOCAL_RUNNER_CLASS}",
            f"--direct_num_workers={local_workers(config.workers) if config.mode != 'in_memory' else 1}",
            f"--direct_running_mode={config.mode}",
            *args,
        ]
    elif runner_kind(config.runner) == "portable":
        args = portable_args(config)
    elif runner_kind(config.runner) == "dask":
        args = dask_args(config)
    else:
        args = [f"--runner={config.runner}", *args]
    return args


# What the local runner relays from its workers ("Worker: ..." records, e.g. "No semi_persistent_directory
# found") goes to the log file only; worker errors still reach the console.
WORKER_LOGGER = "apache_beam.runners.portability.local_job_service"


def _worker_record_to_file(record: logging.LogRecord) -> bool:
    if record.levelno < logging.ERROR:
        record.file_only = True
    return True


# What local worker processes write straight to descriptor 2 while they start (TensorFlow's C++ banner ignores
# TF_CPP_MIN_LOG_LEVEL for its oneDNN line, and Beam warns before its log relay is up).
WORKER_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|cpu_feature_guard|This TensorFlow binary is optimized|rebuild TensorFlow with the appropriate compiler flags"
    r"|No semi_persistent_directory found|No session file found"
)


def run_to_completion(pipeline, out_dir: str):
    """Run ``pipeline`` (its workers' start-up lines filtered, :func:`worker_stderr_to_log`) and return its result;
    a pipeline that ends in any state but DONE fails the build, leaving ``out_dir`` unpublished."""
    with worker_stderr_to_log():
        result = pipeline.run()
        state = result.wait_until_finish()
    if str(state) not in ("DONE", "PipelineState.DONE"):
        raise RuntimeError(f"the Beam pipeline ended in state {state}; {out_dir} is left incomplete")
    return result


@contextlib.contextmanager
def worker_stderr_to_log() -> Iterator[None]:
    """While a local pipeline runs, descriptor 2 (inherited by its worker processes) goes through a filter: the
    workers' start-up lines (:data:`WORKER_NOISE`) go to the log file at debug level, every other line on to
    the console as it was, as it comes."""
    try:
        sys.stderr.flush()
        console_fd = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 (a closed or replaced stderr): nothing to filter
        yield
        return
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)

    def pump() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for raw in pipe:
                if WORKER_NOISE.search(raw.decode("utf-8", "replace")):
                    log.debug(
                        "worker start-up: %s", raw.decode("utf-8", "replace").rstrip(), extra={"file_only": True}
                    )
                else:
                    os.write(console_fd, raw)

    thread = threading.Thread(target=pump, name="worker-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(console_fd, 2)  # the pipe closes once the last worker holding it has exited
        thread.join(timeout=10)
        os.close(console_fd)


def quiet_local_workers() -> None:
    """Keep worker start-up noise off the console (see :data:`QUIET_WORKER_ENV`); idempotent."""
    for name, value in QUIET_WORKER_ENV.items():
        os.environ.setdefault(name, value)
    worker_log = logging.getLogger(WORKER_LOGGER)
    if _worker_record_to_file not in worker_log.filters:
        worker_log.addFilter(_worker_record_to_file)
    for noisy in ("apache_beam", "absl"):
        if logging.getLogger(noisy).level < logging.WARNING:
            logging.getLogger(noisy).setLevel(logging.WARNING)


def pipeline_options(config: RunnerConfig | None = None, **overrides: object):
    """``PipelineOptions`` for ``config`` (default: local, every core); ``overrides`` set options by name."""
    from apache_beam.options.pipeline_options import PipelineOptions

    config = config or RunnerConfig()
    quiet_local_workers()
    config = start_services(config)  # a local worker pool or Dask cluster, when the runner needs one
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


def describe_dataflow_job(pipeline, job_file: str | None = None, *, output: str) -> dict:
    """Run ``pipeline`` as a Dataflow dry run and describe the job; written as JSON to ``job_file`` if given."""
    from acg2vec.beam_pipelines.files import write_text

    job = pipeline.run().job
    proto = job.proto_pipeline
    environments = {
        env_id: {
            "urn": env.urn,
            "dependencies": [
                d.role_urn + " " + d.role_payload.decode("utf-8", "replace")[-120:] for d in env.dependencies
            ],
        }
        for env_id, env in proto.components.environments.items()
    }
    description = {
        "job": json.loads(job.json()),
        "pipeline_options": job.options.get_all_options(drop_default=True, retain_unknown_options=True),
        "steps": sorted(t.unique_name for t in proto.components.transforms.values() if "/" not in t.unique_name),
        "environments": environments,
        "output": output,
    }
    if job_file:
        write_text(job_file, json.dumps(description, indent=1, default=str))
    return description
