"""The recall-QPS curve of one index: leave-one-out queries with their exact answers (:class:`Probe`), the sweep
of its search parameter (:func:`sweep`), and the order in which measured settings are preferred (:func:`rank`,
:func:`pick_setting`)."""

from __future__ import annotations

import logging
import math
import re
import time

import numpy as np

from acg2vec.indexes.search import apply_params, faiss_metric, recall_at

log = logging.getLogger(__name__)


def _drop_self(ids: np.ndarray, self_ids: np.ndarray, k: int) -> np.ndarray:
    """Each row's ids without the query's own id (leave-one-out), cut to ``k``."""
    keep = ids != self_ids[:, None]
    order = np.argsort(~keep, axis=1, kind="stable")
    return np.take_along_axis(ids, order, axis=1)[:, :k]


class Probe:
    """Leave-one-out queries over ``vectors``: exact answers, and recall@k / single-thread ms of any index."""

    def __init__(self, vectors: np.ndarray, n_queries: int, k: int, metric: str, seed: int, min_seconds: float):
        import faiss

        rng = np.random.default_rng(seed)
        # With k or fewer other vectors, recall is over the neighbours there are (a lone vector has none to find).
        self.k, self.min_seconds = max(1, min(k, len(vectors) - 1)), min_seconds
        self.alone = len(vectors) == 1
        self.ids = np.sort(rng.choice(len(vectors), size=min(n_queries, len(vectors)), replace=False))
        self.queries = np.ascontiguousarray(vectors[self.ids])
        _, truth = faiss.knn(self.queries, vectors, self.k + 1, metric=faiss_metric(metric))
        self.truth = _drop_self(truth, self.ids, self.k)

    def measure(self, index, params: str) -> tuple[float, float]:
        import faiss

        apply_params(index, params)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # single-thread latency, as one served query runs
        try:
            runs, start = 0, time.perf_counter()
            while True:
                _, ids = index.search(self.queries, self.k + 1)
                runs += 1
                elapsed = time.perf_counter() - start
                if elapsed >= self.min_seconds:
                    break
        finally:
            faiss.omp_set_num_threads(threads)
        ms = 1000.0 * elapsed / (runs * len(self.queries))
        if self.alone:
            return 1.0, ms
        return recall_at(_drop_self(ids, self.ids, self.k), self.truth, self.k), ms


def sweep(
    index,
    probe: Probe,
    *,
    factory: str,
    kind: str,
    nlist: int,
    refine: bool,
    target: float,
    max_ms: float | None,
    deadline: float,
    k_factors: tuple[int, ...],
    max_nprobe: int,
    stage: str,
) -> list[dict]:
    """The recall-QPS curve of one index: for each re-ranking depth, the primary knob doubled until the target is met,
    the recall stalls, the setting is slower than one already meeting the target, or the time budget runs out."""
    points: list[dict] = []
    best_ms = math.inf
    if kind == "flat":
        recall, ms = probe.measure(index, "")
        return [_point(factory, "", recall, ms, stage)]
    if kind == "hnsw":
        knobs = [[f"efSearch={ef}" for ef in (16, 32, 64, 128, 256, 512, 1024)]]
    else:
        probes = [2**i for i in range(0, 20) if 2**i <= min(nlist, max_nprobe)]
        quantizer = "_HNSW" in factory
        knobs = []
        for kf in k_factors if refine else (0,):
            row = []
            for p in probes:
                setting = f"nprobe={p}"
                if quantizer:  # the coarse graph must return at least nprobe good lists
                    setting += f",quantizer_efSearch={max(64, 2 * p)}"
                row.append(setting + (f",k_factor_rf={kf}" if kf else ""))
            knobs.append(row)
    for row in knobs:
        previous = -1.0
        for i, setting in enumerate(row):
            if time.perf_counter() > deadline:
                log.info("%s: time budget spent after %d settings", factory, len(points))
                return points
            recall, ms = probe.measure(index, setting)
            points.append(_point(factory, setting, recall, ms, stage))
            if recall >= target and (max_ms is None or ms <= max_ms):
                best_ms = min(best_ms, ms)
                between = _nprobe_between(row[i - 1], setting) if kind == "ivf" and 0 <= previous < target else None
                if between is not None and time.perf_counter() <= deadline:
                    # Doubling nprobe overshoots: the setting halfway back may meet the target too, faster.
                    recall, ms = probe.measure(index, between)
                    points.append(_point(factory, between, recall, ms, stage))
                    if recall >= target and (max_ms is None or ms <= max_ms):
                        best_ms = min(best_ms, ms)
                break
            if ms > best_ms or (max_ms is not None and ms > max_ms):
                break  # slower than a setting that already meets the targets
            if recall - previous < 0.002 and recall < target:
                break  # the codes, not the lists opened, limit the recall: re-rank deeper instead
            previous = recall
    return points


def _nprobe_between(lower: str, upper: str) -> str | None:
    """``upper`` with nprobe halfway between the two settings' (64 and 128 give 96), or None when they are adjacent."""
    low = int(re.search(r"nprobe=(\d+)", lower).group(1))
    high = int(re.search(r"nprobe=(\d+)", upper).group(1))
    mid = (low + high) // 2
    if mid in (low, high):
        return None
    between = re.sub(r"nprobe=\d+", f"nprobe={mid}", upper)
    return re.sub(r"quantizer_efSearch=\d+", f"quantizer_efSearch={max(64, 2 * mid)}", between)


def _point(factory: str, params: str, recall: float, ms: float, stage: str) -> dict:
    return {
        "factory": factory,
        "params": params,
        "recall": round(float(recall), 4),
        "qps": round(1000.0 / ms, 1) if ms > 0 else 0.0,
        "ms": round(float(ms), 4),
        "stage": stage,
    }


def rank(point: dict, target: float, max_ms: float | None) -> tuple:
    """Order of preference: settings meeting both targets by speed, then (within the latency target) by recall.

    A setting that misses the recall target never outranks one that meets it, however fast it is.
    """
    within = max_ms is None or point["ms"] <= max_ms
    if point["recall"] >= target and within:
        return (1, point["qps"], 0.0, 0.0)
    return (0, float(within), point["recall"], point["qps"])


def pick_setting(points: list[dict], target: float, max_ms: float | None = None) -> tuple[dict, bool]:
    """The measured point to use and whether it meets the targets: the fastest reaching ``target`` recall within
    ``max_ms`` per query; failing that, the most accurate within ``max_ms`` (or overall)."""
    best = max(points, key=lambda p: rank(p, target, max_ms))
    return best, rank(best, target, max_ms)[0] == 1
