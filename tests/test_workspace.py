"""The workdir: the --workdir option, $ACG2VEC_HOME, the default, remote roots."""

from __future__ import annotations

import pytest

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
