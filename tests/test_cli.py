"""The command line through acg2vec.cli: help of every stage, user mistakes as one line, what help and a run write."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from acg2vec.cli import app

pytestmark = pytest.mark.unit


runner = CliRunner()


def test_help_lists_every_stage():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for stage in ("crawl", "build", "train", "eval", "predict", "embed", "demo"):
        assert stage in result.output


@pytest.mark.parametrize("group", ["crawl", "build", "train", "eval"])
def test_each_group_has_a_real_help(group):
    result = runner.invoke(app, [group, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    assert "Commands" in result.output


def _acg2vec(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "acg2vec.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_user_error_is_one_line_and_nonzero(workdir):
    # A missing required option is a usage error from typer: non-zero, no traceback.
    proc = _acg2vec("--workdir", str(workdir), "crawl", "pixiv")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "Missing option" in proc.stderr and "--from" in proc.stderr


def test_a_workdir_that_is_a_file_is_one_sentence_through_main(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    proc = _acg2vec("--workdir", str(a_file), "eval", "texts")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1
    assert lines[0].startswith("acg2vec: The workdir") and "is a file, not a folder" in lines[0]


def test_help_and_version_write_nothing(tmp_path):
    for args in (["--help"], ["--version"], ["eval", "--help"], ["crawl", "safebooru", "--help"], ["build"]):
        proc = _acg2vec("--workdir", str(tmp_path / "ws"), *args, cwd=tmp_path)
        assert "Traceback" not in proc.stderr, args
    proc = _acg2vec("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "help or version created files"


def test_log_file_records_the_command_and_the_mistake(workdir):
    proc = _acg2vec("--workdir", str(workdir), "eval", "texts")
    assert proc.returncode == 2
    (log_file,) = (workdir / "logs").glob("acg2vec-*.log")
    text = log_file.read_text()
    assert "eval texts" in text  # the command line
    assert "run `acg2vec build texts` first" in text  # the user's mistake, as the console said it
