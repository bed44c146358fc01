"""The ANN benchmark on small generated data: every row measured against exact search, the plot written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from acg2vec.evaluation.ann_benchmark import AnnConfig, ann_section, clustered_vectors, run_ann_benchmark
from acg2vec.evaluation.report import write_report


@pytest.mark.unit
def test_clustered_vectors_are_clustered_not_noise():
    data = clustered_vectors(2_000, 64, n_clusters=10, seed=0)
    assert data.shape == (2_000, 64) and data.dtype == np.float32
    noise = np.random.default_rng(0).standard_normal(data.shape).astype(np.float32) * data.std()

    def nn_ratio(x: np.ndarray) -> float:
        d = ((x[:200, None, :] - x[None, :, :]) ** 2).sum(-1)
        d[np.arange(200), np.arange(200)] = np.inf
        return float(np.median(d.min(1)) / np.median(d[np.isfinite(d)]))

    # Nearest neighbours are far closer than typical pairs in clustered data; in noise they are not.
    assert nn_ratio(data) < 0.3 < nn_ratio(noise)


@pytest.mark.integration
def test_ann_benchmark_small(tmp_path):
    data = clustered_vectors(4_200, 32, seed=2)
    config = AnnConfig(
        n_queries=200,
        single_thread_queries=50,
        single_thread_seconds=0.5,
        extra_factories=("IVF32,Flat",),
        target_speedup=1.0,
    )
    result = run_ann_benchmark(data, config=config, out_dir=str(tmp_path))
    assert result.n == 4_000 and result.n_queries == 200
    assert result.chooser["factory"] == "Flat"  # 4,000 vectors: exact search
    assert {s.index for s in result.settings} == {"Flat", "IVF32,Flat"}
    flat = [s for s in result.settings if s.index == "Flat"]
    assert flat[0].recall_at_1 == pytest.approx(1.0) and flat[0].recall_at_10 == pytest.approx(1.0)
    ivf = sorted((s for s in result.settings if s.index == "IVF32,Flat"), key=lambda s: int(s.params.split("=")[1]))
    assert len(ivf) >= 3 and ivf[-1].recall_at_10 >= ivf[0].recall_at_10  # more lists probed, more found
    assert all(s.qps_single > 0 and s.qps_batched > 0 and s.bytes > 0 for s in result.settings)
    assert result.best is not None and result.best.chosen and result.best.recall_at_10 >= 0.95
    assert (tmp_path / "ann_recall_qps.png").stat().st_size > 1000

    paths = write_report(tmp_path / "run", [ann_section(result, plot=str(tmp_path / "ann_recall_qps.png"))])
    metrics = json.loads(Path(paths["metrics"]).read_text())
    assert metrics["ann"]["best"]["recall_at_10"] == pytest.approx(result.best.recall_at_10)
    assert "IVF32,Flat" in Path(paths["markdown"]).read_text()


@pytest.mark.unit
def test_a_latency_target_picks_the_most_accurate_setting_within_it():
    data = clustered_vectors(20_500, 32, seed=4)
    base = dict(n_queries=500, single_thread_queries=50, single_thread_seconds=0.3, target_speedup=1.0)
    free = run_ann_benchmark(data, config=AnnConfig(**base, extra_factories=("IVF64,Flat",)))
    ivf = [s for s in free.settings if s.index == "IVF64,Flat"]
    assert len(ivf) >= 3
    # A budget between the fastest and the slowest measured setting.
    ms = sorted(1000.0 / s.qps_batched for s in free.settings)
    limit = ms[len(ms) // 2]
    timed = run_ann_benchmark(data, config=AnnConfig(**base, extra_factories=("IVF64,Flat",), max_ms_per_query=limit))
    within = [s for s in timed.settings if 1000.0 / s.qps_batched <= limit]
    assert timed.best.chosen and 1000.0 / timed.best.qps_batched <= limit
    assert timed.best.recall_at_10 == max(s.recall_at_10 for s in within)
    assert "ms per query" in timed.target
    # An impossible budget: the fastest setting is reported, and the target is not met.
    hopeless = run_ann_benchmark(data, config=AnnConfig(**base, max_ms_per_query=1e-9))
    assert not hopeless.target_met


@pytest.mark.integration
def test_benchmark_script_runs_small(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("ann_bench", Path(__file__).parents[2] / "benchmarks" / "ann.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--n", "3000", "--dim", "16", "--queries", "100", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "exact single-thread QPS" in out and "x exact" in out and "Target" in out
    assert (tmp_path / "report.md").is_file() and (tmp_path / "ann_recall_qps.png").is_file()
    assert list(tmp_path.glob("clustered-3100x16-seed0.npy"))  # cached for the next run
