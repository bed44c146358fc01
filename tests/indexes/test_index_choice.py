"""The index chosen by measurement: sweeps, the pick, and the chooser end to end on small collections."""

from __future__ import annotations

import time

import faiss
import numpy as np
import pytest

from acg2vec.evaluation.ann_benchmark import clustered_vectors
from acg2vec.indexes.faiss_index import GIB, Candidate, ChooserConfig
from acg2vec.indexes.index_choice import (
    MeasureConfig,
    _nprobe_between,
    _sweep,
    build_chosen_index,
    pick_setting,
)


def _unit(n, dim, seed):
    data = clustered_vectors(n, dim, seed=seed)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def _point(recall, qps, params="p"):
    return {"factory": "f", "params": params, "recall": recall, "qps": qps, "ms": 1000.0 / qps, "stage": "screen"}


@pytest.mark.unit
def test_pick_setting_never_takes_a_faster_setting_that_misses_the_target():
    fast_miss, slow_meet, slower_meet = _point(0.90, 5_000, "a"), _point(0.96, 1_000, "b"), _point(0.99, 500, "c")
    assert pick_setting([fast_miss, slower_meet, slow_meet], 0.95) == (slow_meet, True)
    # A latency target of 1.5 ms rules out the 2 ms setting: b (1 ms) stays; at 0.5 ms only a fits, and misses.
    assert pick_setting([fast_miss, slower_meet, slow_meet], 0.95, max_ms=1.5) == (slow_meet, True)
    assert pick_setting([fast_miss, slower_meet, slow_meet], 0.95, max_ms=0.5) == (fast_miss, False)
    # Nothing meets the target: the most accurate, reported as not met.
    assert pick_setting([fast_miss, _point(0.93, 100, "d")], 0.95) == (_point(0.93, 100, "d"), False)


@pytest.mark.unit
def test_the_chooser_does_not_choose_a_candidate_that_cannot_meet_the_target():
    data = _unit(4_000, 32, 6)
    # Bare 4-bit codes of 8-d sub-vectors cannot rank neighbours finely enough for recall@10 0.95; re-ranked
    # 2-d codes can. The bare codes are the faster candidate at every setting.
    config = MeasureConfig(
        queries=200,
        seconds_per_candidate=5.0,
        min_seconds=0.02,
        candidates=[Candidate("IVF32,PQ4x4fs", [""], 32), Candidate("IVF32,PQ16x4fs", ["Refine(Flat)"], 32)],
    )
    index, chosen = build_chosen_index(data, recall_target=0.95, progress=False, config=config)
    bare = [p for p in chosen.curve if p["factory"] == "IVF32,PQ4x4fs"]
    assert bare and max(p["recall"] for p in bare) < 0.95
    assert chosen.factory == "IVF32,PQ16x4fs,Refine(Flat)" and chosen.measured_recall >= 0.95
    assert "meeting recall@10 >= 0.95" in chosen.reason
    assert chosen.build_seconds > 0 and chosen.bytes > 0 and index.ntotal == 4_000
    # The index comes back with the chosen setting applied.
    params = dict(part.split("=") for part in chosen.params.split(","))
    assert faiss.extract_index_ivf(index).nprobe == int(params["nprobe"])
    assert faiss.downcast_index(index).k_factor == float(params["k_factor_rf"])


@pytest.mark.unit
def test_a_small_collection_gets_exact_search():
    data = _unit(3_000, 16, 7)
    index, chosen = build_chosen_index(data, progress=False, config=MeasureConfig(queries=100, min_seconds=0.01))
    assert chosen.factory == "Flat" and chosen.measured_recall == pytest.approx(1.0) and chosen.qps > 0
    assert "exact search is fast enough" in chosen.reason and index.ntotal == 3_000


@pytest.mark.unit
@pytest.mark.parametrize("n", [1, 5, 12])
def test_collections_of_k_or_fewer_vectors_are_indexed_and_meet_the_target(n):
    data = _unit(n + 1, 8, n)[:n]
    index, chosen = build_chosen_index(data, progress=False, config=MeasureConfig(min_seconds=0.01))
    assert index.ntotal == n and chosen.factory == "Flat" and chosen.measured_recall == pytest.approx(1.0)
    assert "no setting" not in chosen.reason


@pytest.mark.integration
def test_the_chosen_index_takes_all_vectors_and_is_retuned_on_them():
    data = _unit(6_000, 32, 8)
    config = MeasureConfig(
        queries=150,
        screen_n=2_000,
        seconds_per_candidate=5.0,
        min_seconds=0.02,
        chooser=ChooserConfig(flat_max=0, hnsw_max=0),
    )
    index, chosen = build_chosen_index(data, progress=False, memory_budget=GIB, config=config)
    assert index.ntotal == 6_000 and chosen.n == 6_000
    stages = {p["stage"] for p in chosen.curve}
    assert stages == {"screen", "final"}
    final = [p for p in chosen.curve if p["stage"] == "final"]
    assert {p["factory"] for p in final} == {chosen.factory}
    assert chosen.params in {p["params"] for p in final} and chosen.measured_recall >= 0.95
    # Every row can be found: the vectors added after screening kept their row numbers.
    _, ids = index.search(data[[0, 2_500, 5_999]], 10)
    assert all(row in found for row, found in zip([0, 2_500, 5_999], ids.tolist(), strict=True))


@pytest.mark.unit
def test_nprobe_halfway_between_two_settings():
    assert _nprobe_between("nprobe=64,k_factor_rf=8", "nprobe=128,k_factor_rf=8") == "nprobe=96,k_factor_rf=8"
    assert (
        _nprobe_between("nprobe=8,quantizer_efSearch=64", "nprobe=16,quantizer_efSearch=64")
        == "nprobe=12,quantizer_efSearch=64"
    )
    assert _nprobe_between("nprobe=64,quantizer_efSearch=128", "nprobe=128,quantizer_efSearch=256") == (
        "nprobe=96,quantizer_efSearch=192"
    )
    assert _nprobe_between("nprobe=1", "nprobe=2") is None


class _RecallGrowsWithNprobe:
    """Recall nprobe / 100 and 0.01 ms per list opened: a known curve for the sweep to walk."""

    def __init__(self) -> None:
        self.measured: list[str] = []

    def measure(self, index, params: str) -> tuple[float, float]:
        self.measured.append(params)
        nprobe = int(dict(part.split("=") for part in params.split(","))["nprobe"])
        return min(1.0, nprobe / 100), 0.01 * nprobe


@pytest.mark.unit
def test_the_sweep_tries_halfway_back_when_doubling_nprobe_overshoots_the_target():
    probe = _RecallGrowsWithNprobe()
    points = _sweep(
        None, probe, factory="IVF1024,PQ8x4fs", kind="ivf", nlist=1024, refine=False, target=0.95, max_ms=None,
        deadline=time.perf_counter() + 60, cfg=MeasureConfig(), stage="final",
    )  # fmt: skip
    # 64 lists give 0.64, 128 give 1.0: 96 gives 0.96, meets the target and is faster, so it is the pick.
    assert probe.measured[-3:] == ["nprobe=64", "nprobe=128", "nprobe=96"]
    best, met = pick_setting(points, 0.95)
    assert met and best["params"] == "nprobe=96"
