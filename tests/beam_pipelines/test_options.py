"""options: the local runner chosen explicitly; other runners' arguments passed through; Dataflow dry runs."""

from __future__ import annotations

import pytest

from acg2vec.beam_pipelines.options import (
    LOCAL_RUNNER_CLASS,
    RunnerConfig,
    dataflow_dry_run_config,
    local_workers,
    pipeline_args,
    pipeline_options,
)
from acg2vec.errors import UserError


@pytest.mark.unit
def test_local_runner_is_explicit_and_uses_every_core() -> None:
    args = pipeline_args(RunnerConfig())
    assert args[0] == f"--runner={LOCAL_RUNNER_CLASS}"
    assert f"--direct_num_workers={local_workers()}" in args
    assert "--direct_running_mode=multi_processing" in args
    assert "--direct_num_workers=1" in pipeline_args(RunnerConfig(mode="in_memory", workers=4))
    assert "--direct_num_workers=3" in pipeline_args(RunnerConfig(workers=3))


@pytest.mark.unit
def test_other_runners_get_the_arguments_unchanged() -> None:
    args = pipeline_args(RunnerConfig(runner="FlinkRunner", args=("--flink_master=localhost:8081", "--parallelism=4")))
    assert args == ["--runner=FlinkRunner", "--flink_master=localhost:8081", "--parallelism=4"]
    options = pipeline_options(RunnerConfig(runner="DataflowRunner", args=("--project=p", "--region=europe-west1")))
    assert options.get_all_options()["project"] == "p"
    assert options.get_all_options()["runner"] == "DataflowRunner"


@pytest.mark.unit
def test_mistakes_are_user_errors() -> None:
    with pytest.raises(UserError, match="--runner"):
        pipeline_args(RunnerConfig(args=("--runner=DataflowRunner",)))
    with pytest.raises(UserError, match="running mode"):
        pipeline_args(RunnerConfig(mode="threads"))


@pytest.mark.unit
def test_dataflow_dry_run_keeps_user_values_and_adds_defaults() -> None:
    dry = dataflow_dry_run_config(RunnerConfig(args=("--project=mine",)))
    assert dry.runner == "DataflowRunner"
    assert "--project=mine" in dry.args and "--project=acg2vec-dry-run" not in dry.args
    assert "--dry_run=True" in dry.args and "--region=us-central1" in dry.args
