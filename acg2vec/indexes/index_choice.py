"""The index chosen by measurement: every candidate of the rules (:mod:`acg2vec.indexes.candidates`) built and
its recall-QPS curve measured (:mod:`acg2vec.indexes.measure`), and the fastest setting that meets the targets
kept.

The API (``acg2vec eval ann``, ``acg2vec eval images``, ``acg2vec index`` and ``acg2vec serve`` call these)::

    index, chosen = build_chosen_index(vectors, metric="ip", recall_target=0.95, memory_budget=None, max_ms=None)
    files.save_index(out_dir, index, chosen)        # out_dir/index.faiss + out_dir/index_choice.json
    index, chosen = files.load_index(out_dir)       # memory-mapped where FAISS can; the tuned parameters applied

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
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from acg2vec.errors import UserError
from acg2vec.indexes.candidates import GIB, Candidate, ChooserConfig, candidates, estimate_bytes
from acg2vec.indexes.files import ChosenIndex
from acg2vec.indexes.measure import Probe, pick_setting, rank, sweep
from acg2vec.indexes.search import apply_params, faiss_metric, index_bytes

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


@dataclass(slots=True)
class _Job:
    """One call of :func:`build_chosen_index`: the vectors, the targets and how to measure."""

    vectors: np.ndarray
    metric: str
    recall_target: float
    max_ms: float | None
    k: int
    seed: int
    progress: bool
    cfg: MeasureConfig
    screen_n: int = 0
    train: np.ndarray | None = None  # the k-means sample of the IVF candidates (None: train on the screened rows)
    centroids: dict[int, np.ndarray] = field(default_factory=dict)  # nlist -> shared k-means result
    curve: list[dict] = field(default_factory=list)  # every measured point

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def aim(self, probe: Probe) -> tuple[float, float]:
        """The margin for the sampling error of ``probe``'s queries, and the recall the settings are tuned to."""
        rt = self.recall_target
        margin = self.cfg.margin if self.cfg.margin is not None else 2 * math.sqrt(rt * (1 - rt) / len(probe.ids))
        return margin, min(rt + margin, 1.0)


@dataclass(slots=True)
class _Leader:
    """The best candidate so far: its best measured point, the index that measured it and what that index uses."""

    rank: tuple
    point: dict
    index: Any
    keep: tuple
    cand: Candidate


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

    1. The candidates: :func:`~acg2vec.indexes.candidates.candidates` within ``memory_budget`` (default 4 GiB), or
       ``config.candidates``.
    2. Screen: each is trained on a sample, filled with the first ``screen_n`` vectors and its recall-QPS curve
       measured (single thread, leave-one-out queries, a time budget each); the best point of each is ranked and
       the leader kept: the fastest setting meeting ``recall_target`` (recall@k against exact search) within
       ``max_ms`` milliseconds per query, without one the most accurate within the latency target.
    3. Fill: the leader takes the remaining vectors.
    4. Re-tune: its curve is measured again on queries over all of them, and the best setting applied.
    5. Record: a :class:`~acg2vec.indexes.files.ChosenIndex` with the reason and every measured point.

    Returns the index and its :class:`~acg2vec.indexes.files.ChosenIndex`.
    """
    start = time.perf_counter()
    cfg = config or MeasureConfig()
    vectors = _matrix(vectors)
    n, dim = vectors.shape
    budget = memory_budget or 4 * GIB
    cands = cfg.candidates or candidates(n, dim, memory_budget=budget, config=cfg.chooser, opq=cfg.opq)
    job = _Job(vectors, metric, recall_target, max_ms, k, seed, progress, cfg)
    job.screen_n = n if n <= cfg.screen_n * 1.5 else cfg.screen_n
    leader, (margin, aim) = _screen(job, cands)
    final, (margin, aim) = _fill_and_retune(job, leader, (margin, aim))
    apply_params(leader.index, final["params"])
    _, met = pick_setting([final], aim, max_ms)
    chosen = ChosenIndex(
        factory=leader.point["factory"],
        params=final["params"],
        reason=_reason(job, leader, met, margin, aim, budget),
        metric=metric,
        n=n,
        dim=dim,
        recall_target=recall_target,
        measured_recall=final["recall"],
        qps=final["qps"],
        bytes=index_bytes(leader.index),
        build_seconds=round(time.perf_counter() - start, 1),
        curve=job.curve,
    )
    leader.index.referenced_objects = list(leader.keep)  # IndexRefine does not own its parts
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
    return leader.index, chosen


def _matrix(vectors) -> np.ndarray:
    """``vectors`` as a non-empty 2-d float32 array."""
    vectors = vectors if isinstance(vectors, np.ndarray) else np.asarray(vectors)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise UserError(f"expected a non-empty 2-d array of vectors, got shape {vectors.shape}.")
    return vectors if vectors.dtype == np.float32 else vectors.astype(np.float32)


def _screen(job: _Job, cands: list[Candidate]) -> tuple[_Leader, tuple[float, float]]:
    """Build and measure every candidate on the first ``screen_n`` vectors; the leader and (margin, aim)."""
    cfg, n = job.cfg, len(job.vectors)
    screen = job.vectors[: job.screen_n]
    probe = Probe(screen, cfg.queries, job.k, job.metric, job.seed, cfg.min_seconds)
    margin, aim = job.aim(probe)
    nlist = max(c.nlist for c in cands)
    job.train = _train_sample(job.vectors, max(cfg.train_per_list * nlist, 10_000), job.seed) if nlist else None
    log.info(
        "choosing an index for %d x %d vectors: %d candidates measured on %d vectors, %d queries",
        n,
        job.dim,
        sum(len(c.refines) for c in cands),
        job.screen_n,
        len(probe.ids),
    )
    leader = None
    for cand in cands:
        leader = _screen_candidate(job, cand, probe, aim, leader)
    return leader, (margin, aim)


def _screen_candidate(job: _Job, cand: Candidate, probe: Probe, aim: float, leader: _Leader | None) -> _Leader:
    """Build ``cand`` on the screened rows, measure each of its re-ranking variants, and return the new leader."""
    cfg, n = job.cfg, len(job.vectors)
    screen = job.vectors[: job.screen_n]
    train = job.train if job.train is not None else screen
    t0 = time.perf_counter()
    base = _train_base(cand.base, job.dim, job.metric, train, job.centroids, cfg)
    trained = time.perf_counter() - t0
    _add(base, screen, 0, job.screen_n, cfg.chunk, f"Adding to {cand.base}", job.progress)
    built = time.perf_counter() - t0
    log.info(
        "candidate %s: trained in %.1f s, filled with %d vectors in %.1f s", cand.base, trained, job.screen_n, built
    )
    for refine in cand.refines:
        factory = cand.factory(refine)
        index, keep = _with_refine(job, base, refine, train, screen)
        points = _measure(job, index, cand, factory, bool(refine), probe, aim, "screen")
        for p in points:
            p["build_s"] = round(built, 1)
            p["estimated_bytes"] = estimate_bytes(factory, n, job.dim)
        job.curve.extend(points)
        top, _ = pick_setting(points, aim, job.max_ms)
        log.info(
            "candidate %s: best %s, recall@%d %.3f at %.0f QPS",
            factory,
            top["params"] or "-",
            job.k,
            top["recall"],
            top["qps"],
        )
        top_rank = rank(top, aim, job.max_ms)
        if leader is None or top_rank > leader.rank:
            leader = _Leader(top_rank, top, index, keep, cand)
    return leader


def _with_refine(job: _Job, base, refine: str, train: np.ndarray, screen: np.ndarray):
    """``base`` alone, or wrapped in an ``IndexRefine`` over re-ranking codes filled with the screened rows; and the
    objects the index needs kept alive."""
    import faiss

    if not refine:
        return base, (base,)
    inner = faiss.index_factory(job.dim, refine[len("Refine(") : -1], faiss_metric(job.metric))
    if not inner.is_trained:
        inner.train(train)
    _add(inner, screen, 0, job.screen_n, job.cfg.chunk, f"Re-ranking codes {refine}", job.progress)
    return faiss.IndexRefine(base, inner), (base, inner)


def _measure(job: _Job, index, cand: Candidate, factory: str, refine: bool, probe: Probe, aim: float, stage: str):
    """The recall-QPS curve of ``index`` (:func:`~acg2vec.indexes.measure.sweep`) within the time budget."""
    return sweep(
        index,
        probe,
        factory=factory,
        kind=cand.kind,
        nlist=cand.nlist,
        refine=refine,
        target=aim,
        max_ms=job.max_ms,
        deadline=time.perf_counter() + job.cfg.seconds_per_candidate,
        k_factors=job.cfg.k_factors,
        max_nprobe=job.cfg.max_nprobe,
        stage=stage,
    )


def _fill_and_retune(job: _Job, leader: _Leader, aimed: tuple[float, float]) -> tuple[dict, tuple[float, float]]:
    """The leader's best point, after it takes the rows it was not screened on and is re-tuned on all of them."""
    n, cfg = len(job.vectors), job.cfg
    if job.screen_n >= n:
        return leader.point, aimed
    factory = leader.point["factory"]
    _add(leader.index, job.vectors, job.screen_n, n, cfg.chunk, f"Adding to {factory}", job.progress)
    probe = Probe(job.vectors, cfg.final_queries, job.k, job.metric, job.seed + 1, cfg.min_seconds)
    margin, aim = job.aim(probe)
    final = _measure(job, leader.index, leader.cand, factory, "Refine(" in factory, probe, aim, "final")
    job.curve.extend(final)
    best, _ = pick_setting(final, aim, job.max_ms)
    return best, (margin, aim)


def _reason(job: _Job, leader: _Leader, met: bool, margin: float, aim: float, budget: int) -> str:
    """Why the index was chosen, in one sentence (or why none met the targets)."""
    n_combos = len({p["factory"] for p in job.curve})
    top = leader.point
    targets = (
        f"recall@{job.k} >= {job.recall_target:g} (tuned to {aim:.3f}: the target plus {margin:.3f} for sampling "
        "error)" + (f" within {job.max_ms:g} ms per query" if job.max_ms is not None else "")
    )
    if met:
        return (
            f"the fastest of {n_combos} measured candidates meeting {targets} (best on {job.screen_n:,} vectors: "
            f"{top['recall']:.3f} at {top['qps']:,.0f} QPS single-thread) within the "
            f"{budget / GIB:.2f} GiB budget; {leader.cand.why}"
        )
    reason = (
        f"no setting of the {n_combos} measured candidates met {targets} within {budget / GIB:.2f} GiB: "
        "this is the most accurate one" + (" within the latency target" if job.max_ms is not None else "")
    )
    log.warning("index choice: %s", reason)
    return reason


def _train_sample(vectors: np.ndarray, size: int, seed: int) -> np.ndarray:
    n = len(vectors)
    if size >= n:
        return np.ascontiguousarray(vectors)
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(vectors[np.sort(rng.choice(n, size=size, replace=False))])


def _add(index, vectors: np.ndarray, start: int, stop: int, chunk: int, label: str, progress: bool) -> None:
    """Add rows ``start:stop`` of ``vectors`` in chunks (with a progress bar when ``progress``)."""
    from contextlib import nullcontext

    from acg2vec.logs import progress_task

    bar = progress_task(label, total=stop - start) if progress else nullcontext(lambda n=1: None)
    with bar as advance:
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
