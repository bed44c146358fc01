"""benchmarks/ann.py end to end on tiny data: generated vectors (cached), and a real-vectors file."""

from __future__ import annotations

import re

import numpy as np
import pytest

from acg2vec.indexes.synthetic import latent_clusters
from tests.benchmarks.scripts import load_script


def _script():
    return load_script("ann")


@pytest.mark.integration
def test_benchmark_script_runs_small(tmp_path, capsys):
    module = _script()
    assert module.main(["--n", "3000", "--dim", "16", "--queries", "100", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "exact single-thread QPS" in out and "x exact" in out and "Target" in out and "chosen: Flat" in out
    assert (tmp_path / "report.md").is_file() and (tmp_path / "ann_recall_qps.png").is_file()
    assert list(tmp_path.glob("clustered-3100x16-seed0.npy"))  # cached for the next run
    vectors = tmp_path / "embeddings.npy"
    np.save(vectors, latent_clusters(600, 16, latent_dim=8, n_clusters=5, unit=False, seed=4) * 3.0)
    assert module.main(["--vectors", str(vectors), "--queries", "50", "--out", str(tmp_path / "real")]) == 0
    out = capsys.readouterr().out
    assert "550 x 16 + 50 queries" in out  # --queries rows held out at random
    assert "embeddings.npy" in out and "recall@10 1.000" in out  # 540 vectors: exact search


@pytest.mark.integration
@pytest.mark.slow  # 30-40 s; CI keeps its budget (make test-all runs it)
def test_benchmark_script_forces_the_ivf_candidates_on_a_small_set(tmp_path, capsys):
    vectors = tmp_path / "embeddings.npy"
    np.save(vectors, latent_clusters(1_100, 16, latent_dim=8, n_clusters=10, seed=5))
    argv = ["--vectors", str(vectors), "--queries", "100", "--flat-max", "0", "--hnsw-max", "0"]
    argv += ["--seconds-per-candidate", "3", "--target-speedup", "0", "--out", str(tmp_path / "out")]
    assert _script().main(argv) == 0
    out = capsys.readouterr().out
    # The rules' IVF candidates (plain or OPQ-rotated), not exact search.
    assert re.search(r"chosen: (OPQ\d+,)?IVF16,PQ\d+x4fs,Refine\(", out), out[-2000:]
    assert "screen" in out  # every candidate's measured curve is printed
