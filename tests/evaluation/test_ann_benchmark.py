"""The ANN benchmark on small generated data: every row measured against exact search, the plot written."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from acg2vec.evaluation.ann_benchmark import (
    AnnConfig,
    ann_section,
    clustered_vectors,
    latent_clusters,
    run_ann_benchmark,
)
from acg2vec.evaluation.report import write_report
from acg2vec.indexes.faiss_index import ChooserConfig
from acg2vec.indexes.index_choice import MeasureConfig


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


def test_latent_clusters_have_the_chosen_intrinsic_dimension():
    data = latent_clusters(3_000, 64, latent_dim=8, n_clusters=20, noise=0.01, seed=0)
    assert data.shape == (3_000, 64) and data.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(data, axis=1), 1.0, rtol=1e-5)  # unit vectors
    centred = data - data.mean(0)
    energy = np.linalg.svd(centred, compute_uv=False) ** 2
    # 8 latent dimensions hold nearly all the variance; the 9th direction is the small noise.
    assert energy[:8].sum() / energy.sum() > 0.99 and energy[8] < 0.01 * energy[7]
    broad = latent_clusters(2_000, 32, latent_dim=16, n_clusters=10, spread=1.5, seed=1)
    tight = latent_clusters(2_000, 32, latent_dim=16, n_clusters=10, spread=0.2, seed=1)

    def neighbour_similarity(x: np.ndarray) -> float:
        sims = x[:200] @ x.T
        sims[np.arange(200), np.arange(200)] = -np.inf
        return float(np.median(sims.max(1)))

    # Broad clusters overlap: nearest neighbours are much less similar than in tight ones.
    assert neighbour_similarity(broad) < neighbour_similarity(tight) - 0.1


@pytest.mark.integration
def test_ann_benchmark_small(tmp_path):
    data = clustered_vectors(4_200, 32, seed=2)
    config = AnnConfig(
        n_queries=200,
        single_thread_queries=50,
        single_thread_seconds=0.5,
        extra_factories=("IVF32,Flat",),
        target_speedup=1.0,
        progress=False,
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
    assert result.best is not None and result.best.chosen and result.best.index == "Flat"
    assert (tmp_path / "ann_recall_qps.png").stat().st_size > 1000

    paths = write_report(tmp_path / "run", [ann_section(result, plot=str(tmp_path / "ann_recall_qps.png"))])
    metrics = json.loads(Path(paths["metrics"]).read_text())
    assert metrics["ann"]["best"]["recall_at_10"] == pytest.approx(result.best.recall_at_10)
    assert "IVF32,Flat" in Path(paths["markdown"]).read_text()


@pytest.mark.integration
def test_the_benchmark_measures_the_chosen_index_on_held_out_queries():
    data = latent_clusters(5_300, 32, latent_dim=16, n_clusters=50, seed=3)
    measure = MeasureConfig(
        queries=150, seconds_per_candidate=4.0, min_seconds=0.02, chooser=ChooserConfig(flat_max=0, hnsw_max=0)
    )
    config = AnnConfig(
        n_queries=300,
        single_thread_queries=50,
        single_thread_seconds=0.3,
        target_speedup=0.5,
        metric="ip",
        progress=False,
        measure=measure,
    )
    result = run_ann_benchmark(data, config=config)
    chooser = result.chooser
    # An IVF candidate (OPQ-rotated or not) with re-ranking; the rotated ones were measured beside the plain ones.
    assert re.fullmatch(r"(OPQ\d+,)?IVF\d+,PQ\d+x4fs,Refine\(\w+\)", chooser["factory"]), chooser["factory"]
    assert any(p["factory"].startswith("OPQ") for p in chooser["curve"])
    # Every candidate's curve is kept, and the held-out rows are of the chosen index around its setting.
    assert len({p["factory"] for p in chooser["curve"]}) >= 2
    assert {s.index for s in result.settings} == {chooser["factory"]}
    assert result.best.params == chooser["params"] and result.best.chosen
    assert result.best.recall_at_10 >= 0.9  # held-out queries the chooser never saw
    assert result.target_met == (result.best.recall_at_10 >= 0.95 and result.speedup >= 0.5)
    # A latency target no setting can meet is reported as not met.
    hopeless = run_ann_benchmark(data, config=dataclasses.replace(config, max_ms_per_query=1e-6))
    assert not hopeless.target_met and "ms per query" in hopeless.target
    assert "no setting" in hopeless.chooser["reason"]
