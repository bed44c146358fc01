from __future__ import annotations

import subprocess
import sys

import pytest

from acg2vec.serving.threads import WAIT_POLICY, prefer_passive_waits

pytestmark = pytest.mark.unit


def test_passive_waits_are_the_default_and_a_users_choice_is_kept():
    environ: dict[str, str] = {}
    assert prefer_passive_waits(environ) == "PASSIVE" and environ == {WAIT_POLICY: "PASSIVE"}
    mine = {WAIT_POLICY: "ACTIVE"}
    assert prefer_passive_waits(mine) == "ACTIVE" and mine == {WAIT_POLICY: "ACTIVE"}


def test_the_cli_loads_no_torch_before_serve_sets_the_policy():
    """OpenMP reads the policy once, as torch loads it: the CLI must get to ``serve`` without importing torch."""
    code = "import sys, acg2vec.cli, acg2vec.commands.serve; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "False"


def test_a_late_call_says_it_comes_too_late(caplog, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch") or object())
    prefer_passive_waits({})
    assert "torch was loaded before OMP_WAIT_POLICY=PASSIVE was set" in caplog.text
