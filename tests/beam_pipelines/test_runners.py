"""runners: the portable and Dask arguments, the mistakes they refuse; dask_runner: each gap of Beam's Dask runner
closed (multi-output ParDos, every branch, side inputs computed once, counters) on a small in-process cluster."""

from __future__ import annotations

import socket
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter

from acg2vec.beam_pipelines import runners
from acg2vec.beam_pipelines.options import RunnerConfig, pipeline_args, pipeline_options
from acg2vec.errors import UserError


@pytest.mark.unit
def test_portable_arguments_name_the_job_server_and_keep_the_users_environment() -> None:
    env = ("--environment_type=PROCESS", '--environment_config={"command": "/opt/apache/beam/boot"}')
    with socket.create_server(("127.0.0.1", 0)) as server:  # a job server that answers
        endpoint = f"127.0.0.1:{server.getsockname()[1]}"
        config = RunnerConfig(runner="portable", job_endpoint=endpoint, args=env)
        assert pipeline_args(config) == ["--runner=PortableRunner", f"--job_endpoint={endpoint}", *env]
        assert runners.start_services(config) is config  # the user's environment: nothing started here
        options = pipeline_options(config).get_all_options()
    assert options["job_endpoint"] == endpoint and options["environment_type"] == "PROCESS"


@pytest.mark.unit
def test_mistakes_are_one_sentence() -> None:
    with pytest.raises(UserError, match="--environment_type=EXTERNAL"):  # a remote job server, no environment
        pipeline_options(RunnerConfig(runner="portable", job_endpoint="spark-jobserver:8099"))
    with pytest.raises(UserError, match="--job-endpoint is for --runner portable"):
        pipeline_args(RunnerConfig(runner="dask", job_endpoint="localhost:8099"))
    with pytest.raises(UserError, match="--dask-address is for --runner dask"):
        pipeline_args(RunnerConfig(dask_address="tcp://localhost:8786"))
    with pytest.raises(UserError, match="--job-endpoint, not --job_endpoint"):
        pipeline_args(RunnerConfig(runner="portable", args=("--job_endpoint=x:1", "--environment_type=LOOPBACK")))
    with pytest.raises(UserError, match="--dask-address"):
        pipeline_args(RunnerConfig(runner="dask", dask_address="a:1", args=("--dask_client_address=b:2",)))


@pytest.mark.unit
def test_a_server_that_does_not_answer_is_one_sentence() -> None:
    port = runners.free_port()  # nothing listens there
    with pytest.raises(UserError, match=f"No job server answers at localhost:{port}"):
        pipeline_options(RunnerConfig(runner="portable", job_endpoint=f"localhost:{port}"))
    with pytest.raises(UserError, match="No Dask scheduler answers"):
        pipeline_options(RunnerConfig(runner="dask", dask_address=f"tcp://127.0.0.1:{port}"))
    with pytest.raises(UserError, match="not HOST:PORT"):
        pipeline_options(
            RunnerConfig(runner="portable", job_endpoint="localhost", args=("--environment_type=LOOPBACK",))
        )


@pytest.mark.unit
def test_runner_names() -> None:
    assert runners.runner_kind("portable") == runners.runner_kind("PortableRunner") == runners.PORTABLE
    assert runners.runner_kind("dask") == runners.DASK
    assert runners.runner_kind("FlinkRunner") == "other"
    assert runners.is_local_endpoint(None) and runners.is_local_endpoint("localhost:8099")
    assert not runners.is_local_endpoint("10.0.0.5:8099")
    args = pipeline_args(
        RunnerConfig(runner="dask", dask_address="tcp://10.0.0.5:8786", args=("--dask_npartitions=8",))
    )
    assert args == [
        f"--runner={runners.DASK_RUNNER_CLASS}",
        "--dask_client_address=tcp://10.0.0.5:8786",
        "--dask_npartitions=8",
    ]


class _Split(beam.DoFn):
    """Even numbers on the main output, odd ones on ``odd``; counts both, and adds the side input to each."""

    def process(self, n: int, offset: int):
        Metrics.counter("test", "seen").inc()
        if n % 2:
            yield beam.pvalue.TaggedOutput("odd", n + offset)
        else:
            yield n + offset


def _append(path: Path, values: list) -> None:
    with path.open("a") as fh:
        fh.write(" ".join(str(v) for v in sorted(values)) + "\n")


@pytest.mark.integration
def test_dask_runner_keeps_outputs_apart_runs_every_branch_and_counts(tmp_path: Path) -> None:
    from distributed import LocalCluster

    side_runs = tmp_path / "side.txt"
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None
    ) as cluster:
        config = RunnerConfig(runner="dask", dask_address=cluster.scheduler_address)
        pipeline = beam.Pipeline(options=pipeline_options(config))
        # The side input's producer writes a file: it must run once, not once per task that reads it.
        offset = (
            pipeline
            | "Offset" >> beam.Create([100])
            | "NoteSideRun" >> beam.Map(lambda v: (_append(side_runs, [v]), v)[1])
        )
        split = (
            pipeline
            | "Numbers" >> beam.Create(range(10))
            | "Split" >> beam.ParDo(_Split(), offset=beam.pvalue.AsSingleton(offset)).with_outputs("odd", main="even")
        )
        # Two branches, each a leaf of its own: both must run, each with its own output only.
        for name, output in (("even", split.even), ("odd", split.odd)):
            path = tmp_path / f"{name}.txt"
            _ = (
                output
                | f"All{name}" >> beam.combiners.ToList()
                | f"Write{name}" >> beam.Map(lambda values, path=path: _append(path, values))
            )
        result = pipeline.run()
        assert str(result.wait_until_finish()) in ("DONE", "PipelineState.DONE")
    assert (tmp_path / "even.txt").read_text() == "100 102 104 106 108\n"
    assert (tmp_path / "odd.txt").read_text() == "101 103 105 107 109\n"
    assert side_runs.read_text() == "100\n"
    (seen,) = result.metrics().query(MetricsFilter().with_namespace("test"))["counters"]
    assert seen.key.metric.name == "seen" and seen.committed == 10
