"""The index chosen by measurement: every candidate of the rules (:mod:`acg2vec.indexes.faiss_index`) built and
its recall-QPS curve measured, and the fastest setting that meets the targets kept.

The measurement (:func:`build_chosen_index`): every candidate is trained on a sample (k-means on 30 vectors per
list; candidates with the same nlist share one k-means), filled in batches with the first ``screen_n`` vectors, and
its recall-QPS curve measured on one thread with leave-one-out queries (sampled rows, their own id removed from
every answer), each re-ranking depth with nprobe doubled until the target is met or the recall stalls, within a
time budget per candidate. The fastest setting meeting the recall target within the latency target wins (none
meeting it: the most accurate, and the reason says so); the winner takes the remaining vectors and is re-tuned on
queries over all of them.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass

import numpy as np

from acg2vec.errors import UserError
from acg2vec.indexes.faiss_index import (
    GIB,
    Candidate,
    ChooserConfig,
    ChosenIndex,
    apply_params,
    candidates,
    estimate_bytes,
    faiss_metric,
    index_bytes,
    null_progress,
    recall_at,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class MeasureConfig:
    """How :func:`build_chosen_index` measures its candidates (the defaults suit 10k to 10M vectors)."""

    screen_n: int = 200_000  # candidates are built and compared on the first screen_n vectors
    queries: int = 300  # leave-one-out queries: sampled rows, their own id removed from every answer
    # The chosen index is re-tuned on more queries over all the vectors: a smaller sampling error means a smaller
    # margin above the target, so a faster setting qualifies (2 standard errors: 0.025 at 300, 0.014 at 1,000).
    final_queries: int = 1000
    seconds_per_candidate: float = 30.0  # the sweep of one candidate stops after this long
    min_seconds: float = 0.15  # a setting is timed over repeated batches for at least this long
    train_per_list: int = 30  # k-means samples per IVF list (FAISS warns below 39; 30 loses little, trains faster)
    kmeans_iter: int = 10
    chunk: int = 65_536  # vectors added per batch
    # Also measure OPQ-rotated fast-scan PQ (the rotation trained for 4-bit codes on 16,384 vectors). At 1M x 512 on
    # 2 quiet cores it added 58 s of training and 24 s to a 127 s build; on loaded cores it took minutes.
    opq: bool = True
    k_factors: tuple[int, ...] = (2, 4, 8, 16, 32, 64)  # re-ranking depths tried (x k candidates re-ranked)
    max_nprobe: int = 1024
    chooser: ChooserConfig | None = None  # thresholds of the rules
    candidates: list[Candidate] | None = None  # measure these instead of the rules' candidates
    # Settings are chosen against the recall target plus this margin. The tuning queries are a sample, so a
    # setting that just meets the target on them misses it on other queries about half the time (seen on the
    # demo's vectors: 0.951 when tuned, 0.933 on held-out queries). None: two standard errors of the estimate.
    margin: float | None = None


def _drop_self(ids: np.ndarray, self_ids: np.ndarray, k: int) -> np.ndarray:
    """Each row's ids without the query's own id (leave-one-out), cut to ``k``."""
    keep = ids != self_ids[:, None]
    order = np.argsort(~keep, axis=1, kind="stable")
    return np.take_along_axis(ids, order, axis=1)[:, :k]


class _Probe:
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


def _sweep(
    index,
    probe: _Probe,
    *,
    factory: str,
    kind: str,
    nlist: int,
    refine: bool,
    target: float,
    max_ms: float | None,
    deadline: float,
    cfg: MeasureConfig,
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
        probes = [2**i for i in range(0, 20) if 2**i <= min(nlist, cfg.max_nprobe)]
        quantizer = "_HNSW" in factory
        knobs = []
        for kf in cfg.k_factors if refine else (0,):
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


def _rank(point: dict, target: float, max_ms: float | None) -> tuple:
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
    best = max(points, key=lambda p: _rank(p, target, max_ms))
    return best, _rank(best, target, max_ms)[0] == 1


def _train_sample(vectors: np.ndarray, size: int, seed: int) -> np.ndarray:
    n = len(vectors)
    if size >= n:
        return np.ascontiguousarray(vectors)
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(vectors[np.sort(rng.choice(n, size=size, replace=False))])


def _add(index, vectors: np.ndarray, start: int, stop: int, chunk: int, label: str, progress: bool) -> None:
    from acg2vec.logs import progress_task

    with progress_task(label, total=stop - start) if progress else null_progress() as advance:
        for lo in range(start, stop, chunk):
            block = np.ascontiguousarray(vectors[lo : min(lo + chunk, stop)], dtype=np.float32)
            index.add(block)
            advance(len(block))


def _train_base(base: str, dim: int, metric: str, sample: np.ndarray, centroids: dict, cfg: MeasureConfig):
    """A trained, empty index of ``base``; IVF candidates with the same nlist share one k-means (``centroids``)."""
    import faiss

    index = faiss.index_factory(dim, base, faiss_metric(metric))
    if index.is_trained:
        return index
    ivf = faiss.extract_index_ivf(index)
    ivf.cp.niter = cfg.kmeans_iter
    rotation = None
    if base.startswith("OPQ"):
        rotation = faiss.downcast_VectorTransform(faiss.downcast_index(index).chain.at(0))
        # Optimise the rotation for the 4-bit codes it serves (16 centroids per sub-vector, not OPQ's default 256):
        # the codes it will be used with, and 16x less k-means per iteration.
        codes = faiss.ProductQuantizer(rotation.d_out, rotation.M, 4)
        rotation.pq = codes
        rotation.niter = 20
        rotation.max_train_points = 16_384
        index.referenced_objects = [codes]
    known = centroids.get(ivf.nlist)
    if known is not None:
        if rotation is not None:  # the lists live in the rotated space: rotate the shared centroids with it
            rotation.train(sample[: rotation.max_train_points])
            known = rotation.apply(known)
        ivf.quantizer.add(known)
    index.train(sample)
    if known is None and rotation is None:
        centroids[ivf.nlist] = ivf.quantizer.reconstruct_n(0, ivf.nlist)
    return index


def build_chosen_index(
    vectors: np.ndarray,
    *,
    metric: str = "ip",
    recall_target: float = 0.95,
    memory_budget: int | None = None,
    max_ms: float | None = None,
    k: int = 10,
    seed: int = 0,
    progress: bool = True,
    config: MeasureConfig | None = None,
):
    """Choose an index for ``vectors`` by measurement, build it and apply its tuned search parameters.

    Every candidate of :func:`candidates` is trained on a sample, filled with the first ``screen_n`` vectors in
    batches, and its recall-QPS curve measured (single thread, leave-one-out queries, a time budget each). The
    fastest setting meeting ``recall_target`` (recall@k against exact search) within ``max_ms`` milliseconds per
    query wins; without one, the most accurate within the latency target. The winner then takes the remaining
    vectors and is re-tuned on queries over all of them. Returns the index and its :class:`ChosenIndex`.
    """
    import faiss

    cfg = config or MeasureConfig()
    start = time.perf_counter()
    vectors = vectors if isinstance(vectors, np.ndarray) else np.asarray(vectors)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise UserError(f"expected a non-empty 2-d array of vectors, got shape {vectors.shape}.")
    if vectors.dtype != np.float32:
        vectors = vectors.astype(np.float32)
    n, dim = vectors.shape
    budget = memory_budget or 4 * GIB
    cands = cfg.candidates or candidates(n, dim, memory_budget=budget, config=cfg.chooser, opq=cfg.opq)
    screen_n = n if n <= cfg.screen_n * 1.5 else cfg.screen_n
    screen = vectors[:screen_n]
    probe = _Probe(screen, cfg.queries, k, metric, seed, cfg.min_seconds)
    margin = (
        cfg.margin if cfg.margin is not None else 2 * math.sqrt(recall_target * (1 - recall_target) / len(probe.ids))
    )
    aim = min(recall_target + margin, 1.0)
    nlist = max(c.nlist for c in cands)
    sample = _train_sample(vectors, max(cfg.train_per_list * nlist, 10_000), seed) if nlist else None
    log.info(
        "choosing an index for %d x %d vectors: %d candidates measured on %d vectors, %d queries",
        n,
        dim,
        sum(len(c.refines) for c in cands),
        screen_n,
        len(probe.ids),
    )
    curve: list[dict] = []
    centroids: dict[int, np.ndarray] = {}
    best = None  # (rank, point, index, keep-alive objects)
    for cand in cands:
        t0 = time.perf_counter()
        base = _train_base(cand.base, dim, metric, sample if sample is not None else screen, centroids, cfg)
        trained = time.perf_counter() - t0
        _add(base, screen, 0, screen_n, cfg.chunk, f"Adding to {cand.base}", progress)
        built = time.perf_counter() - t0
        log.info(
            "candidate %s: trained in %.1f s, filled with %d vectors in %.1f s", cand.base, trained, screen_n, built
        )
        for refine in cand.refines:
            factory = f"{cand.base},{refine}" if refine else cand.base
            index, keep = base, (base,)
            if refine:
                inner = faiss.index_factory(dim, refine[len("Refine(") : -1], faiss_metric(metric))
                if not inner.is_trained:
                    inner.train(sample if sample is not None else screen)
                _add(inner, screen, 0, screen_n, cfg.chunk, f"Re-ranking codes {refine}", progress)
                index, keep = faiss.IndexRefine(base, inner), (base, inner)
            kind = "flat" if cand.base == "Flat" else "hnsw" if cand.base.startswith("HNSW") else "ivf"
            points = _sweep(
                index,
                probe,
                factory=factory,
                kind=kind,
                nlist=cand.nlist,
                refine=bool(refine),
                target=aim,
                max_ms=max_ms,
                deadline=time.perf_counter() + cfg.seconds_per_candidate,
                cfg=cfg,
                stage="screen",
            )
            for p in points:
                p["build_s"] = round(built, 1)
                p["estimated_bytes"] = estimate_bytes(factory, n, dim)
            curve.extend(points)
            top = max(points, key=lambda p: _rank(p, aim, max_ms))
            log.info(
                "candidate %s: best %s, recall@%d %.3f at %.0f QPS",
                factory,
                top["params"] or "-",
                k,
                top["recall"],
                top["qps"],
            )
            rank = _rank(top, aim, max_ms)
            if best is None or rank > best[0]:
                best = (rank, top, index, keep, cand)
        del base
    rank, top, index, keep, cand = best
    screened = [p for p in curve if p["factory"] == top["factory"]]
    final_top = top
    if screen_n < n:
        _add(index, vectors, screen_n, n, cfg.chunk, f"Adding to {top['factory']}", progress)
        probe = _Probe(vectors, cfg.final_queries, k, metric, seed + 1, cfg.min_seconds)
        if cfg.margin is None:
            margin = 2 * math.sqrt(recall_target * (1 - recall_target) / len(probe.ids))
            aim = min(recall_target + margin, 1.0)
        kind = "hnsw" if cand.base.startswith("HNSW") else "ivf"
        final = _sweep(
            index,
            probe,
            factory=top["factory"],
            kind=kind,
            nlist=cand.nlist,
            refine="Refine(" in top["factory"],
            target=aim,
            max_ms=max_ms,
            deadline=time.perf_counter() + cfg.seconds_per_candidate,
            cfg=cfg,
            stage="final",
        )
        curve.extend(final)
        final_top = max(final, key=lambda p: _rank(p, aim, max_ms))
    apply_params(index, final_top["params"])
    met = _rank(final_top, aim, max_ms)[0] == 1
    n_combos = len({p["factory"] for p in curve})
    targets = (
        f"recall@{k} >= {recall_target:g} (tuned to {aim:.3f}: the target plus {margin:.3f} for sampling error)"
        + (f" within {max_ms:g} ms per query" if max_ms is not None else "")
    )
    if met:
        reason = (
            f"the fastest of {n_combos} measured candidates meeting {targets} (best on {screen_n:,} vectors: "
            f"{top['recall']:.3f} at {top['qps']:,.0f} QPS single-thread) within the "
            f"{budget / GIB:.2f} GiB budget; {cand.why}"
        )
    else:
        reason = (
            f"no setting of the {n_combos} measured candidates met {targets} within {budget / GIB:.2f} GiB: "
            "this is the most accurate one" + (" within the latency target" if max_ms is not None else "")
        )
        log.warning("index choice: %s", reason)
    chosen = ChosenIndex(
        factory=top["factory"],
        params=final_top["params"],
        reason=reason,
        metric=metric,
        n=n,
        dim=dim,
        recall_target=recall_target,
        measured_recall=final_top["recall"],
        qps=final_top["qps"],
        bytes=index_bytes(index),
        build_seconds=round(time.perf_counter() - start, 1),
        curve=curve,
    )
    del screened
    index.referenced_objects = list(keep)  # IndexRefine does not own its parts
    log.info(
        "chose %s %s: recall@%d %.3f at %.0f QPS, %.1f MiB, built in %.0f s",
        chosen.factory,
        chosen.params,
        k,
        chosen.measured_recall,
        chosen.qps,
        chosen.bytes / 2**20,
        chosen.build_seconds,
    )
    return index, chosen
