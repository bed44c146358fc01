"""`acg2vec predict` / `acg2vec embed` option checks, through ``acg2vec.cli.main`` in a subprocess as a user runs it.

A value out of range is one sentence and exit code 2, before any model loads and before anything is written.
The tagging and embedding themselves are tested in tests/trainers/image/test_predict.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def cli(*args: str, workdir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ACG2VEC_HOME": str(workdir)}
    return subprocess.run([sys.executable, "-c", "from acg2vec.cli import main; main()", *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["predict", "IMG", "--batch-size", "0"], "'--batch-size'"),
        (["predict", "IMG", "-k", "-3"], "'--top-k'"),
        (["predict", "IMG", "--max-pixels", "0"], "'--max-pixels'"),
        (["embed", "IMG", "--batch-size", "-1", "--out", "OUT"], "'--batch-size'"),
        (["embed", "IMG", "--text", "--batch-size", "-1", "--out", "OUT"], "'--batch-size'"),
    ],
)
def test_bad_numbers_are_one_sentence_and_nothing_is_written(workdir, tmp_path, args, says):
    image = tmp_path / "a.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "vectors"
    run = cli(*[str(image) if a == "IMG" else str(out) if a == "OUT" else a for a in args], workdir=workdir)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    message = " ".join(run.stderr.replace("│", " ").split())
    assert f"Invalid value for {says}" in message and ("x>=1" in message or "greater than or equal to 1" in message)
    assert len(run.stderr.strip().splitlines()) <= 6  # a sentence (in a box at most), not a traceback
    assert not any(tmp_path.glob("vectors*")), "no stray .npy or .parquet"
