"""The workdir: the --workdir option, $ACG2VEC_HOME, the default, remote roots."""

from __future__ import annotations

import subprocess
import sys

import pytest

from acg2vec.errors import UserError
from acg2vec.workspace import Workspace

pytestmark = pytest.mark.unit


def test_workdir_option_env_and_default(tmp_path, monkeypatch):
    monkeypatch.delenv("ACG2VEC_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Workspace.at(None).root == str(tmp_path / "acg2vec-data")
    monkeypatch.setenv("ACG2VEC_HOME", str(tmp_path / "home"))
    assert Workspace.at(None).root == str(tmp_path / "home")
    assert Workspace.at(tmp_path / "x").raw("safebooru") == str(tmp_path / "x" / "raw" / "safebooru")
    assert Workspace.at("gs://bucket/ws").datasets() == "gs://bucket/ws/datasets"


def test_every_folder_name_is_the_workspace_s(tmp_path):
    ws = Workspace.at(tmp_path)
    assert ws.index() == str(tmp_path / "index") and ws.index("works") == str(tmp_path / "index" / "works")
    assert ws.jobs("bangumi") == str(tmp_path / "jobs" / "bangumi")
    assert ws.cache("hf_datasets") == str(tmp_path / "cache" / "hf_datasets")
    assert ws.cache("http/safebooru") == str(tmp_path / "cache" / "http" / "safebooru")
    assert Workspace.at("gs://bucket/ws").index("tags") == "gs://bucket/ws/index/tags"


def test_a_workdir_that_cannot_be_written_is_one_sentence(tmp_path):
    # /proc refuses new folders even to root, so this holds whoever runs the tests.
    with pytest.raises(UserError, match=r"^Cannot create the workdir /proc/acg2vec-ws"):
        Workspace.at("/proc/acg2vec-ws").ensure()
    proc = subprocess.run(
        [sys.executable, "-m", "acg2vec.cli", "--workdir", "/proc/acg2vec-ws", "eval", "texts"],
        capture_output=True,
        text=True,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("acg2vec: Cannot create the workdir")
