"""The recall-QPS curve of one index: the order of preference, and the sweep walking a known curve."""

from __future__ import annotations

import time

import pytest

from acg2vec.indexes.index_choice import MeasureConfig
from acg2vec.indexes.measure import _nprobe_between, pick_setting, sweep


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
    points = sweep(
        None, probe, factory="IVF1024,PQ8x4fs", kind="ivf", nlist=1024, refine=False, target=0.95, max_ms=None,
        deadline=time.perf_counter() + 60, k_factors=MeasureConfig().k_factors, max_nprobe=MeasureConfig().max_nprobe,
        stage="final",
    )  # fmt: skip
    # 64 lists give 0.64, 128 give 1.0: 96 gives 0.96, meets the target and is faster, so it is the pick.
    assert probe.measured[-3:] == ["nprobe=64", "nprobe=128", "nprobe=96"]
    best, met = pick_setting(points, 0.95)
    assert met and best["params"] == "nprobe=96"
