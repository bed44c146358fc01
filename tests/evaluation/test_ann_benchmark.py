"""The ANN benchmark on small generated data: every row measured against exact search, the plot written."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from acg2vec.evaluation.ann_benchmark import AnnConfig, ann_section, run_ann_benchmark
from acg2vec.evaluation.report import write_report
from acg2vec.indexes.candidates import ChooserConfig
from acg2vec.indexes.index_choice import MeasureConfig
from acg2vec.indexes.synthetic import clustered_vectors, latent_clusters


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
