"""FAISS indexes chosen by measurement within written-out rules, and the API that indexing and serving share.

The API (``acg2vec eval ann``, ``acg2vec index`` and ``acg2vec serve`` call these; the signatures are stable)::

    index, chosen = index_choice.build_chosen_index(vectors, metric="ip", recall_target=0.95, memory_budget=None, max_ms=None)
    save_index(out_dir, index, chosen)        # out_dir/index.faiss + out_dir/index_choice.json
    index, chosen = load_index(out_dir)       # memory-mapped where FAISS can; the tuned parameters applied

``chosen`` (a :class:`ChosenIndex`) says which factory string and search parameters were chosen and why, the
measured recall@k and single-thread QPS, the size, the build time, and the measured curve of every candidate.

The rules give the candidates (:func:`candidates`):

1. Few vectors (``< flat_max``): ``Flat`` -- exact search is already fast, and nothing beats its recall.
2. Up to ``hnsw_max`` vectors, when the graph fits: ``HNSW32`` beside the IVF candidates.
3. IVF with ``nlist`` the power of two at or above 4*sqrt(n) -- inside FAISS's guided range 4*sqrt(n)..16*sqrt(n)
   (the square root itself made the tuner open a quarter of the lists on broad clusters) -- and an HNSW coarse
   quantizer from 16,384 lists (``IVF16384_HNSW32`` at 10M), where scanning every centroid would cost more per
   query than the lists it opens.
4. 4-bit fast-scan PQ codes of dim/2 and dim/4 sub-quantizers (optionally OPQ-rotated) find candidates, which are
   re-ranked (``k_factor_rf``) with the raw vectors (``Refine(Flat)``) when they fit the memory budget, with
   half-floats when those fit and the raw vectors do not, and always also with 8-bit codes (``Refine(SQ8)``, a
   quarter of the raw size: what lets 1M x 512 fit in 1 GiB). Bare PQ codes only when no re-ranking fits.

The measurement lives in :mod:`acg2vec.indexes.index_choice` (:func:`~acg2vec.indexes.index_choice.
build_chosen_index`); this module holds the rules, the sizes and the index files. The older single-pick
:func:`choose_index` / :func:`build_index` / :func:`tune_index` remain for callers that name a factory themselves.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from acg2vec.errors import UserError

log = logging.getLogger(__name__)

GIB = 1024**3
# Estimates leave this much room for FAISS's own buffers, the query batch and the Python process.
HEADROOM = 1.15


@dataclass(slots=True)
class ChooserConfig:
    """Thresholds of the index rules (see the module docstring)."""

    flat_max: int = 20_000
    hnsw_max: int = 200_000
    hnsw_m: int = 32


@dataclass(slots=True)
class IndexChoice:
    """An index factory string, why it was picked, and its estimated size in bytes."""

    factory: str
    reason: str
    estimated_bytes: int
    nlist: int = 0


@dataclass(slots=True)
class TunedSetting:
    """Search parameters (a ParameterSpace string) with the recall and batched latency measured while tuning."""

    params: str
    recall: float
    ms_per_query: float
    met_target: bool
    pareto: list[tuple[str, float, float]] = field(default_factory=list)


def nlist_for(n: int) -> int:
    """Number of IVF lists of the rules (:func:`ivf_nlist`)."""
    return ivf_nlist(n)


def pq_m_for(dim: int, per: int = 4) -> int:
    """Number of PQ sub-quantizers: an even divisor of ``dim`` near dim / ``per`` (fast-scan wants an even count)."""
    target = max(2, dim // per)
    for delta in range(dim):
        for m in (target - delta, target + delta):
            if 2 <= m <= dim and dim % m == 0 and m % 2 == 0:
                return m
    raise UserError(f"cannot split dimension {dim} into an even number of PQ sub-vectors.")


def estimate_bytes(factory: str, n: int, dim: int) -> int:
    """Rough resident size of an index built from ``factory`` holding ``n`` vectors of ``dim`` floats.

    Understands ``Flat``, ``HNSW{M}``, ``[OPQ{m},]IVF{nlist}[_HNSW{M}],{Flat|PQ{m}x4fs|PQ{m}|SQ8|SQfp16}`` and a
    trailing ``RFlat`` / ``Refine(Flat|SQfp16|SQ8)``.
    """
    raw = n * dim * 4
    parts = factory.split(",")
    total = 0
    refine = None
    if parts[-1] == "RFlat" or parts[-1].startswith("Refine("):
        refine = parts.pop()
    if parts[0].startswith("OPQ"):
        parts.pop(0)
        total += dim * dim * 4
    head = parts[0]
    if head == "Flat":
        total += raw
    elif head.startswith("HNSW"):
        m = int(head[4:])
        # Level 0 keeps 2*M neighbour ids per vector; the upper levels add about 1/M of that.
        total += raw + int(n * 2 * m * 4 * (1 + 1 / m)) + n * 8
    else:
        nlist_text, _, quantizer = head[3:].partition("_")
        nlist = int(nlist_text)
        total += nlist * dim * 4 + n * 8  # centroids + ids in the inverted lists
        if quantizer.startswith("HNSW"):
            total += nlist * 2 * int(quantizer[4:]) * 4 * 2
        codes = parts[1]
        if codes == "Flat":
            total += raw
        elif codes.startswith("PQ"):
            m = int(codes[2:].split("x")[0])
            bits = 4 if codes.endswith("fs") or "x4" in codes else 8
            # Fast-scan lists are padded to blocks of 32 codes; the codebooks are tiny.
            total += n * m * bits // 8 + (nlist * 16 * m if codes.endswith("fs") else 0) + m * 2**bits * (dim // m) * 4
        elif codes == "SQ8":
            total += n * dim
        elif codes == "SQfp16":
            total += n * dim * 2
    if refine is not None:
        inner = "Flat" if refine == "RFlat" else refine[len("Refine(") : -1]
        total += {"Flat": raw, "SQfp16": n * dim * 2, "SQ8": n * dim + 2 * dim * 4}[inner]
    return int(total)


def choose_index(
    n: int, dim: int, *, memory_budget: int = 4 * GIB, config: ChooserConfig | None = None
) -> IndexChoice:
    """Pick a FAISS factory string for ``n`` vectors of ``dim`` floats within ``memory_budget`` bytes."""
    cfg = config or ChooserConfig()
    if n <= 0 or dim <= 0:
        raise UserError(f"cannot build an index of {n} vectors of dimension {dim}.")

    def fits(factory: str) -> bool:
        return estimate_bytes(factory, n, dim) * HEADROOM <= memory_budget

    def pick(factory: str, reason: str, nlist: int = 0) -> IndexChoice:
        return IndexChoice(factory, reason, estimate_bytes(factory, n, dim), nlist)

    if n < cfg.flat_max and fits("Flat"):
        return pick("Flat", f"{n} < {cfg.flat_max} vectors: exact search is fast enough")
    hnsw = f"HNSW{cfg.hnsw_m}"
    if n <= cfg.hnsw_max and fits(hnsw):
        return pick(hnsw, f"{n} <= {cfg.hnsw_max} vectors and the graph fits the budget")
    nlist = nlist_for(n)
    head = ivf_head(nlist)
    # As many sub-quantizers as fit, from dim/2 down to dim/8: 4-bit codes are cheap to scan, and with few of
    # them the candidates of a dense cluster are too coarse for re-ranking to recover (recall stalls below 0.8).
    pqs = [f"{head},PQ{m}x4fs" for m in dict.fromkeys(pq_m_for(dim, per) for per in (2, 4, 8))]
    for pq in pqs:
        if fits(pq + ",RFlat"):
            return pick(pq + ",RFlat", "fast-scan PQ candidates re-ranked exactly with the raw vectors", nlist)
    ivf_flat = f"{head},Flat"
    if fits(ivf_flat):
        return pick(ivf_flat, "the raw vectors fit the budget, their PQ codes beside them do not", nlist)
    for pq in pqs:
        if fits(pq + ",Refine(SQ8)"):
            return pick(pq + ",Refine(SQ8)", "raw vectors do not fit: PQ candidates re-ranked with 8-bit codes", nlist)
    for pq in pqs:
        if fits(pq):
            log.warning("only PQ codes fit the memory budget: distances are approximate, recall will be lower")
            return pick(pq, "only the PQ codes fit the budget (approximate distances)", nlist)
    need = estimate_bytes(pqs[-1], n, dim) * HEADROOM / GIB
    raise UserError(
        f"{n} vectors of dimension {dim} need at least {need:.2f} GiB even as PQ codes; raise the memory budget."
    )


def faiss_metric(metric: str) -> int:
    import faiss

    if metric == "l2":
        return faiss.METRIC_L2
    if metric == "ip":
        return faiss.METRIC_INNER_PRODUCT
    raise UserError(f"unknown metric {metric!r}; use 'l2' or 'ip' (inner product on normalised vectors = cosine).")


def build_index(
    vectors: np.ndarray,
    *,
    factory: str | None = None,
    memory_budget: int = 4 * GIB,
    metric: str = "l2",
    train_per_list: int = 64,
    chunk: int = 65_536,
    seed: int = 0,
    progress: bool = True,
):
    """Train and fill a FAISS index (chosen by :func:`choose_index` unless ``factory`` is given).

    IVF coarse quantizers train on ``train_per_list`` sampled vectors per list (FAISS's k-means would use
    up to 256); vectors are added in chunks so long builds show progress.
    """
    import faiss

    from acg2vec.logs import progress_task

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise UserError(f"expected a non-empty 2-d array of vectors, got shape {vectors.shape}.")
    n, dim = vectors.shape
    if factory is None:
        factory = choose_index(n, dim, memory_budget=memory_budget).factory
    index = faiss.index_factory(dim, factory, faiss_metric(metric))
    if not index.is_trained:
        nlist = faiss.extract_index_ivf(index).nlist if "IVF" in factory else 0
        n_train = min(n, max(train_per_list * max(nlist, 1), 4096))
        rng = np.random.default_rng(seed)
        sample = vectors[np.sort(rng.choice(n, size=n_train, replace=False))] if n_train < n else vectors
        log.info("training %s on %d vectors", factory, len(sample))
        index.train(sample)
    with progress_task(f"Adding vectors to {factory}", total=n) if progress else null_progress() as advance:
        for start in range(0, n, chunk):
            block = vectors[start : start + chunk]
            index.add(block)
            advance(len(block))
    return index


class null_progress:  # noqa: N801 - used like a function, as progress_task is
    def __enter__(self):
        return lambda n=1: None

    def __exit__(self, *exc: object) -> None:
        return None


def index_bytes(index) -> int:
    """Size of the serialised index in bytes (what it occupies on disk and, closely, in memory)."""
    import faiss

    return int(faiss.serialize_index(index).size)


def exact_search(
    vectors: np.ndarray, queries: np.ndarray, k: int, *, metric: str = "l2"
) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth by brute force: distances and ids of the ``k`` nearest vectors of every query."""
    import faiss

    index = faiss.IndexFlat(vectors.shape[1], faiss_metric(metric))
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Fraction of the exact top-``k`` ids found in the approximate top-``k`` (recall@k against exact search)."""
    hits = 0
    for row_found, row_truth in zip(found[:, :k], truth[:, :k], strict=True):
        hits += len(set(row_found.tolist()) & set(row_truth.tolist()))
    return hits / (len(truth) * k)


def tune_index(
    index,
    queries: np.ndarray,
    truth_ids: np.ndarray,
    *,
    k: int = 10,
    target_recall: float = 0.95,
    max_ms_per_query: float | None = None,
) -> TunedSetting:
    """Explore the index's search parameters with ``faiss.ParameterSpace`` and apply the best setting.

    The best setting is the fastest one reaching ``target_recall`` (recall@k against ``truth_ids``); with
    ``max_ms_per_query``, the most accurate one within that batched latency. Falls back to the most accurate
    setting when no setting meets the target. Exact indexes have nothing to tune.
    """
    import faiss

    queries = np.ascontiguousarray(queries, dtype=np.float32)
    truth = np.ascontiguousarray(truth_ids[:, :k], dtype=np.int64)
    space = faiss.ParameterSpace()
    space.initialize(index)
    if space.n_combinations() <= 1:
        distances, ids = index.search(queries, k)
        return TunedSetting("", recall_at(ids, truth, k), float("nan"), recall_at(ids, truth, k) >= target_recall)
    criterion = faiss.IntersectionCriterion(len(queries), k)
    criterion.set_groundtruth(None, truth)
    space.verbose = 0
    space.min_test_duration = 0.05  # repeat fast settings so their timings are not noise
    points = space.explore(index, queries, criterion)
    pareto = []
    for i in range(points.optimal_pts.size()):
        point = points.optimal_pts.at(i)
        if not point.key:  # explore's reference point (no parameters, no results)
            continue
        pareto.append((point.key, float(point.perf), 1000.0 * float(point.t) / len(queries)))
    if not pareto:  # nothing measured better than the defaults: keep them
        _, ids = index.search(queries, k)
        recall = recall_at(ids, truth, k)
        return TunedSetting("", recall, float("nan"), recall >= target_recall)
    if max_ms_per_query is not None:
        allowed = [p for p in pareto if p[2] <= max_ms_per_query] or [min(pareto, key=lambda p: p[2])]
        best = max(allowed, key=lambda p: p[1])
        met = best[2] <= max_ms_per_query and best[1] >= target_recall
    else:
        meeting = [p for p in pareto if p[1] >= target_recall]
        best = min(meeting, key=lambda p: p[2]) if meeting else max(pareto, key=lambda p: p[1])
        met = bool(meeting)
    space.set_index_parameters(index, best[0])
    log.info("tuned %s: recall@%d %.3f at %.3f ms/query (batched)", best[0], k, best[1], best[2])
    return TunedSetting(best[0], best[1], best[2], met, pareto)


# --- Choice by measurement: the API that `acg2vec eval ann`, `acg2vec index` and `acg2vec serve` share ----------


@dataclass(slots=True)
class ChosenIndex:
    """What index was chosen and why, with the measured recall-QPS curve of every candidate (JSON-serialisable).

    ``qps`` is queries per second on one thread at ``params``, timed over batches of the leave-one-out queries (a
    loop of one query per call adds per-call overhead: benchmarks/ann.py measures that on held-out queries); ``curve`` holds
    every measured point: ``factory``, ``params``, ``recall`` (recall@k against exact search), ``qps``, ``ms``,
    ``stage`` (``screen``: compared on a sample of the vectors; ``final``: the chosen index, re-tuned on all of them).
    """

    factory: str
    params: str
    reason: str
    metric: str
    n: int
    dim: int
    recall_target: float
    measured_recall: float
    qps: float
    bytes: int
    build_seconds: float
    curve: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_json(cls, d: dict) -> ChosenIndex:
        missing = [name for name in cls.__slots__ if name not in d and name != "curve"]
        if missing:
            raise UserError(f"the index choice is missing {', '.join(missing)}; rebuild the index.")
        return cls(**{name: d[name] for name in cls.__slots__ if name in d})


@dataclass(slots=True)
class Candidate:
    """A candidate generator (``base`` factory string) and the re-ranking variants measured on top of it."""

    base: str
    refines: list[str]
    nlist: int = 0
    why: str = ""


INDEX_FILE = "index.faiss"
CHOICE_FILE = "index_choice.json"
REFINES = ("Refine(Flat)", "Refine(SQfp16)", "Refine(SQ8)")
HNSW_QUANTIZER_MIN_NLIST = 16_384


def ivf_nlist(n: int) -> int:
    """IVF lists for ``n`` vectors: the power of two at or above 4*sqrt(n), the low end of FAISS's guided range
    4*sqrt(n)..16*sqrt(n), and at most n / 39 (k-means wants 39 points per list), at least 16."""
    nlist = 2 ** math.ceil(math.log2(max(4 * math.sqrt(max(n, 1)), 1)))
    while nlist > 16 and nlist * 39 > n:
        nlist //= 2
    return max(16, nlist)


def ivf_head(nlist: int) -> str:
    """``IVF{nlist}``, with an HNSW coarse quantizer from 16,384 lists: scanning all centroids would then cost more
    per query than the lists it opens (16,384 x 512 floats = 32 MiB read per query)."""
    return f"IVF{nlist}_HNSW32" if nlist >= HNSW_QUANTIZER_MIN_NLIST else f"IVF{nlist}"


def candidates(
    n: int, dim: int, *, memory_budget: int = 4 * GIB, config: ChooserConfig | None = None, opq: bool = False
) -> list[Candidate]:
    """The candidates the rules allow for ``n`` vectors of ``dim`` floats within ``memory_budget`` bytes.

    - fewer than ``flat_max`` vectors: ``Flat`` alone (exact search is already fast);
    - up to ``hnsw_max`` vectors: ``HNSW32`` when its graph and vectors fit, beside the IVF candidates;
    - IVF with :func:`ivf_nlist` lists (:func:`ivf_head` adds the HNSW coarse quantizer for large nlist) and 4-bit
      fast-scan PQ codes of dim/2 and dim/4 sub-quantizers, each with and without an OPQ rotation, re-ranked with
      the raw vectors (``Refine(Flat)``) when they fit, with half-floats when those fit and the raw vectors not,
      and always also with 8-bit codes (``Refine(SQ8)``: a quarter of the raw size); bare PQ codes (approximate
      distances) only when no re-ranking fits.
    """
    cfg = config or ChooserConfig()
    if n <= 0 or dim <= 0:
        raise UserError(f"cannot build an index of {n} vectors of dimension {dim}.")

    def fits(factory: str) -> bool:
        return estimate_bytes(factory, n, dim) * HEADROOM <= memory_budget

    if n < cfg.flat_max and fits("Flat"):
        return [Candidate("Flat", [""], why=f"{n:,} < {cfg.flat_max:,} vectors: exact search is fast enough")]
    out = []
    hnsw = f"HNSW{cfg.hnsw_m}"
    if n <= cfg.hnsw_max and fits(hnsw):
        out.append(Candidate(hnsw, [""], why=f"{n:,} <= {cfg.hnsw_max:,} vectors and the graph fits"))
    nlist = ivf_nlist(n)
    head = ivf_head(nlist)
    for m in dict.fromkeys(pq_m_for(dim, per) for per in (2, 4)):
        for rotate in (False, True) if opq else (False,):
            base = f"OPQ{m},{head},PQ{m}x4fs" if rotate else f"{head},PQ{m}x4fs"
            fitting = [r for r in REFINES if fits(f"{base},{r}")]
            # The most precise re-ranking that fits, and the compact 8-bit one beside it.
            refines = list(dict.fromkeys(fitting[:1] + fitting[-1:]))
            if not refines and fits(base):
                refines = [""]
            if refines:
                out.append(Candidate(base, refines, nlist, f"{nlist} lists in 4*sqrt(n)..16*sqrt(n)"))
    if not out:
        need = estimate_bytes(f"{head},PQ{pq_m_for(dim, 8)}x4fs", n, dim) * HEADROOM / GIB
        raise UserError(
            f"{n} vectors of dimension {dim} need at least {need:.2f} GiB even as PQ codes; raise the memory budget."
        )
    return out


def apply_params(index, params: str) -> None:
    """Set search parameters (a ``faiss.ParameterSpace`` string such as ``nprobe=16,k_factor_rf=4``) on ``index``."""
    import faiss

    if params:
        faiss.ParameterSpace().set_index_parameters(index, params)


def save_index(out_dir: str, index, chosen: ChosenIndex) -> None:
    """Write ``index.faiss`` and ``index_choice.json`` (the choice, its reason and measured curve) into ``out_dir``."""
    import json
    import os

    import faiss

    os.makedirs(out_dir, exist_ok=True)
    faiss.write_index(index, os.path.join(out_dir, INDEX_FILE))
    with open(os.path.join(out_dir, CHOICE_FILE), "w", encoding="utf-8") as fh:
        json.dump(chosen.to_json(), fh, indent=1)


def load_index(out_dir: str, *, mmap: bool = True):
    """Read an index written by :func:`save_index` with its tuned parameters applied.

    With ``mmap`` the file is memory-mapped read-only where FAISS supports it (the inverted lists of IVF indexes),
    so several server processes share one copy of the codes through the page cache.
    """
    import json
    import os

    import faiss

    path, choice_path = os.path.join(out_dir, INDEX_FILE), os.path.join(out_dir, CHOICE_FILE)
    for required in (path, choice_path):
        if not os.path.isfile(required):
            raise UserError(f"no {os.path.basename(required)} in {out_dir}; build the index first.")
    with open(choice_path, encoding="utf-8") as fh:
        try:
            chosen = ChosenIndex.from_json(json.load(fh))
        except (ValueError, TypeError) as err:
            raise UserError(f"{choice_path} is not a valid index choice ({err}).") from err
    flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
    index = faiss.read_index(path, flags)
    apply_params(index, chosen.params)
    return index, chosen
