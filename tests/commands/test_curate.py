"""``acg2vec curate`` through typer's CliRunner on a tiny noisy dataset (tests/curation/conftest.py)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from acg2vec.cli import app
from acg2vec.datasets.acg_illustrations.curation_files import read_duplicates, read_label_issues, read_manifest
from acg2vec.errors import UserError
from tests.curation.conftest import MISSING_RED, write_noisy_dataset
from tests.evaluation.fakes import make_image_model

runner = CliRunner()


def invoke(workdir, *args):
    return runner.invoke(app, ["--workdir", str(workdir), "--quiet", "curate", *args])


@pytest.fixture
def noisy_workdir(workdir):
    _, truth = write_noisy_dataset(workdir)
    make_image_model(workdir / "models" / "deepdanbooru")
    lines = [json.dumps({"id": post, "tags": sorted(tags)}) for post, tags in truth.items()]
    (workdir / "truth.jsonl").write_text("\n".join(lines) + "\n")
    return workdir


@pytest.mark.integration
def test_curate_writes_a_run_with_issues_duplicates_manifest_and_report(noisy_workdir):
    result = invoke(noisy_workdir, "--run", "r1", "--folds", "3", "--min-positives", "2",
                    "--truth", str(noisy_workdir / "truth.jsonl"))  # fmt: skip
    assert result.exit_code == 0, result.output
    run_dir = str(noisy_workdir / "curation" / "r1")
    issues = read_label_issues(run_dir)
    flagged = set(issues[(issues["kind"] == "missing") & (issues["tag"] == "red")]["post_id"])
    assert flagged >= MISSING_RED  # the default model under models/ was found and used
    manifest = read_manifest(run_dir)
    assert manifest.dataset.config == "32" and manifest.parameters["folds"] == 3
    # Train and test hold the same pictures under other ids: every picture is a cross-split duplicate.
    assert len(read_duplicates(run_dir)) > 0 and manifest.counts["duplicates"]["train_test_pairs"] > 0
    report = (noisy_workdir / "curation" / "r1" / "report.md").read_text()
    assert "Label issues against the true tags" in report and "Near-duplicates" in report


def test_curate_bad_input_is_one_sentence(noisy_workdir, tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    result = invoke(noisy_workdir, str(empty))
    assert isinstance(result.exception, UserError) and "no TFDS dataset" in str(result.exception)
    result = invoke(noisy_workdir, "--folds", "500")
    assert isinstance(result.exception, UserError) and "cannot be split into 500 folds" in str(result.exception)
    result = invoke(noisy_workdir, "--filter-by", "vibes")
    assert isinstance(result.exception, UserError) and "unknown cleanlab filter" in str(result.exception)
    (noisy_workdir / "bad.jsonl").write_text('{"id": 1}\n')
    result = invoke(noisy_workdir, "--truth", str(noisy_workdir / "bad.jsonl"))
    assert isinstance(result.exception, UserError) and "line 1" in str(result.exception)


@pytest.mark.integration
def test_a_damaged_run_table_names_the_command_that_writes_it_again_and_that_command_works(noisy_workdir):
    import shlex

    from acg2vec.integrity import DamagedFileError
    from tests.damage import cut_short

    assert invoke(noisy_workdir, "--run", "r1", "--folds", "3", "--min-positives", "2").exit_code == 0
    run_dir = str(noisy_workdir / "curation" / "r1")
    cut_short(noisy_workdir / "curation" / "r1" / "label_issues.parquet")
    with pytest.raises(DamagedFileError) as caught:
        read_label_issues(run_dir)
    sentence = str(caught.value)
    repair = shlex.split(sentence.split("repair it with `", 1)[1].split("`", 1)[0])
    assert repair[:2] == ["acg2vec", "curate"] and repair[-2:] == ["--run", "r1"]
    again = runner.invoke(app, ["--workdir", str(noisy_workdir), "--quiet", *repair[1:], "--folds", "3",
                                "--min-positives", "2"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert len(read_label_issues(run_dir)) > 0
