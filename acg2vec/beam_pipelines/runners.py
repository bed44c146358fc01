"""The runners beyond the local one: Beam's portable path (a job server, SDK workers in their own processes) and Dask.

``--runner portable`` submits the build through Beam's Job API, the way Flink, Spark and Dataflow v2 run it:
``PortableRunner`` with ``--job_endpoint`` (a Flink or Spark job server, or Beam's local job service). The
pipeline and every DoFn are pickled, sent to the job server and run by SDK workers in other processes. Without a
job endpoint, Beam's local job service runs inside this process (``--job_endpoint=embed``). Where the SDK workers
run is the environment: given after ``--`` (``--environment_type=PROCESS|EXTERNAL|DOCKER --environment_config=...``)
it is passed through; not given, and the job server on this machine, acg2vec starts Beam's worker pool
(``apache_beam.runners.worker.worker_pool_main``) in its own process and points ``EXTERNAL`` at it. acg2vec never
lets Beam fall back to its default environment, which pulls the SDK's container image.

``--runner dask`` runs the build on a Dask ``distributed`` cluster with :class:`acg2vec.beam_pipelines.dask_runner.DaskRunner`:
``--dask-address`` names the scheduler; without it a ``LocalCluster`` of ``workers`` (default 2) worker processes
is started for the build.

Services acg2vec starts (a worker pool, a ``LocalCluster``) are kept for the process, shared by the passes and
builds that ask for the same one, and stopped at exit, or by :func:`stop_services`.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from acg2vec.errors import UserError

log = logging.getLogger(__name__)

LOCAL_RUNNERS = ("direct", "directrunner", "fnapirunner")

PORTABLE = "portable"
DASK = "dask"
PORTABLE_NAMES = ("portable", "portablerunner")
DASK_NAMES = ("dask", "daskrunner")
DASK_RUNNER_CLASS = "acg2vec.beam_pipelines.dask_runner.DaskRunner"
EMBEDDED_JOB_SERVER = "embed"  # PortableRunner's name for Beam's local job service inside this process
DASK_LOCAL_WORKERS = 2
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0")
START_TIMEOUT_S = 60.0

# Set for the local worker processes before they start (they inherit the environment): TensorFlow's and gRPC's
# C++ start-up lines ("oneDNN custom operations are on", "All log messages before absl::InitializeLog() ...")
# are not for the user's console. A value the user set is kept.
QUIET_WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "GRPC_VERBOSITY": "ERROR", "GLOG_minloglevel": "2"}


@dataclass(slots=True)
class RunnerConfig:
    """Which Beam runner runs a build, and how.

    ``workers``: local worker processes (default: every core; a Dask ``LocalCluster``'s workers, default 2).
    ``mode``: the DirectRunner's running mode. ``args``: extra pipeline arguments, passed through unchanged (e.g.
    ``["--project=p", "--region=r"]``). ``job_endpoint``: the job server of ``runner="portable"`` (``HOST:PORT``;
    None: Beam's local job service inside this process). ``dask_address``: the ``distributed`` scheduler of
    ``runner="dask"`` (None: a ``LocalCluster`` started for the build).
    """

    runner: str = "direct"
    workers: int | None = None
    mode: str = "multi_processing"
    args: Sequence[str] = field(default_factory=tuple)
    job_endpoint: str | None = None
    dask_address: str | None = None

    @property
    def is_local(self) -> bool:
        return self.runner.lower() in LOCAL_RUNNERS


def runner_kind(runner: str) -> str:
    """``portable``, ``dask`` or ``other`` (the local runner is told apart by ``RunnerConfig.is_local``)."""
    name = runner.lower()
    if name in PORTABLE_NAMES:
        return PORTABLE
    if name in DASK_NAMES or name.endswith(".daskrunner"):
        return DASK
    return "other"


def _given(args: list[str], option: str) -> bool:
    return any(a == option or a.startswith(option + "=") for a in args)


def is_local_endpoint(endpoint: str | None) -> bool:
    """True for the embedded job service and a job server on this machine (its workers can reach a local pool)."""
    if endpoint in (None, "", EMBEDDED_JOB_SERVER):
        return True
    return endpoint.rsplit(":", 1)[0] in LOCAL_HOSTS


def check_runner_addresses(config: RunnerConfig) -> None:
    """A job endpoint belongs to the portable runner and a scheduler address to Dask; anything else is a mistake."""
    kind = runner_kind(config.runner)
    if config.job_endpoint and kind != PORTABLE:
        raise UserError(f"--job-endpoint is for --runner portable, not --runner {config.runner}.")
    if config.dask_address and kind != DASK:
        raise UserError(f"--dask-address is for --runner dask, not --runner {config.runner}.")


def portable_args(config: RunnerConfig) -> list[str]:
    """``PortableRunner`` arguments: the job endpoint, then the user's pass-through arguments, which must name the
    SDK workers' environment (:func:`start_services` adds the local worker pool's when the job server is local)."""
    args = list(config.args)
    for option in ("--job_endpoint", "--dask_client_address"):
        if _given(args, option):
            raise UserError(f"Give the job server with --job-endpoint, not {option} after `--`.")
    out = ["--runner=PortableRunner", f"--job_endpoint={config.job_endpoint or EMBEDDED_JOB_SERVER}"]
    if not _given(args, "--environment_type"):
        raise UserError(
            f"The job server {config.job_endpoint} runs the SDK workers on its own machines: say where after `--`, "
            "e.g. -- --environment_type=EXTERNAL --environment_config=HOST:PORT (a Beam worker pool beside each "
            'task manager) or --environment_type=PROCESS --environment_config=\'{"command": "/opt/apache/beam/boot"}\'.'
        )
    return out + args


def dask_args(config: RunnerConfig) -> list[str]:
    """acg2vec's ``DaskRunner`` arguments: the scheduler ``config.dask_address`` (set by :func:`start_services`
    when none was given), then the user's pass-through arguments."""
    args = list(config.args)
    if _given(args, "--dask_client_address") or _given(args, "--job_endpoint"):
        raise UserError("Give the Dask scheduler with --dask-address, not inside the pass-through arguments.")
    address = config.dask_address
    if not address:
        raise UserError("No Dask scheduler: give --dask-address HOST:PORT, or none to start a local cluster.")
    return [f"--runner={DASK_RUNNER_CLASS}", f"--dask_client_address={address}", *args]


# -- services acg2vec starts for a build -------------------------------------------------------------------------

_SERVICES: dict[tuple, Any] = {}


def start_services(config: RunnerConfig) -> RunnerConfig:
    """``config`` with what it needs started: a local worker pool (portable, no environment given, job server on
    this machine) or a ``LocalCluster`` (dask, no address). Others are returned unchanged."""
    kind = runner_kind(config.runner)
    has_environment = _given(list(config.args), "--environment_type")
    if kind == PORTABLE and not has_environment and not is_local_endpoint(config.job_endpoint):
        return config  # portable_args says what is missing
    if kind == PORTABLE and config.job_endpoint not in (None, EMBEDDED_JOB_SERVER):
        check_reachable(config.job_endpoint, "job server")
    if kind == DASK and config.dask_address:
        check_reachable(config.dask_address, "Dask scheduler")
    if kind == PORTABLE and not has_environment:
        pool = _service(("pool",), _start_worker_pool)
        args = ("--environment_type=EXTERNAL", f"--environment_config={pool.address}", *config.args)
        return dataclasses.replace(config, args=args)
    if kind == DASK and not config.dask_address:
        workers = config.workers or DASK_LOCAL_WORKERS
        cluster = _service(("dask", workers), lambda: _start_local_cluster(workers))
        return dataclasses.replace(config, dask_address=cluster.scheduler_address)
    return config


def _service(key: tuple, start):
    if key not in _SERVICES:
        _SERVICES[key] = start()
    return _SERVICES[key]


def stop_services() -> None:
    """Stop every worker pool and local cluster this process started (also done at exit)."""
    while _SERVICES:
        _, service = _SERVICES.popitem()
        with contextlib.suppress(Exception):
            service.close()


atexit.register(stop_services)


@contextlib.contextmanager
def services() -> Iterator[None]:
    """Stop what was started inside the block when it ends (tests, benchmarks)."""
    try:
        yield
    finally:
        stop_services()


def check_reachable(address: str, what: str, timeout: float = 5.0) -> None:
    """One sentence, not a minute of retries and a traceback, when nothing listens at ``[scheme://]HOST:PORT``."""
    host, _, port = address.split("://", 1)[-1].rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"The {what} address {address!r} is not HOST:PORT.")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as err:
        raise UserError(
            f"No {what} answers at {address} ({err.strerror or err}); start it or check the address."
        ) from None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = START_TIMEOUT_S) -> None:
    """Wait until ``port`` on this machine accepts connections; a process that exits first is an error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before listening on port {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f} s")


@dataclasses.dataclass
class LocalProcess:
    """A Beam service acg2vec started in a process of its own (its output goes to ``log_path``)."""

    process: subprocess.Popen
    address: str
    log_path: str

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def python_env() -> dict[str, str]:
    """The environment of a Beam service process: this interpreter first on PATH (Beam's worker pool starts its
    SDK workers as ``python -c ...``), and the quiet worker settings."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    for name, value in QUIET_WORKER_ENV.items():
        env.setdefault(name, value)
    return env


def start_beam_process(module: str, port_flag: str, what: str) -> LocalProcess:
    """Start ``python -m <module> <port_flag>=<free port>`` and wait until it listens."""
    port = free_port()
    fd, log_path = tempfile.mkstemp(prefix=f"acg2vec-{module.rsplit('.', 1)[-1]}-", suffix=".log")
    with os.fdopen(fd, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module, f"{port_flag}={port}"],
            env=python_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_for_port(port, process, what)
    except RuntimeError:
        process.kill()
        raise
    log.info("%s listening on localhost:%d (pid %d, log %s)", what, port, process.pid, log_path)
    return LocalProcess(process=process, address=f"localhost:{port}", log_path=log_path)


def _start_worker_pool() -> LocalProcess:
    return start_beam_process("apache_beam.runners.worker.worker_pool_main", "--service_port", "Beam worker pool")


def start_job_service() -> LocalProcess:
    """Beam's local job service in a process of its own (what a Flink or Spark job server is to a user)."""
    return start_beam_process(
        "apache_beam.runners.portability.local_job_service_main", "--port", "Beam local job service"
    )


def _start_local_cluster(workers: int):
    from distributed import LocalCluster

    for name, value in QUIET_WORKER_ENV.items():
        os.environ.setdefault(name, value)  # the worker processes inherit it
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",  # this machine only
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    log.info("Dask LocalCluster of %d worker processes at %s", workers, cluster.scheduler_address)
    return cluster
