"""ANN benchmark: for every index and search setting, recall@1 / recall@10 against exact search, single-thread and
batched QPS, build time and bytes, plus the recall-QPS curve plot.

The exact baseline (``Flat``) is measured in the same run, so speed-ups are ratios on the same machine and load.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from acg2vec.evaluation.faiss_index import GIB, build_index, choose_index, faiss_metric, recall_at, tune_index
from acg2vec.evaluation.report import Section, Table

log = logging.getLogger(__name__)


@dataclass(slots=True)
class AnnConfig:
    """Knobs of :func:`run_ann_benchmark`."""

    k: int = 10
    n_queries: int = 1000  # held out of ``vectors`` when no queries are given
    tune_queries: int = 300  # queries used by ParameterSpace.explore (its timing is batched)
    single_thread_queries: int = 300
    single_thread_seconds: float = 10.0  # per setting; stops early on slow settings (exact search)
    target_recall: float = 0.95
    target_speedup: float = 30.0
    memory_budget: int = 4 * GIB
    max_ms_per_query: float | None = None  # a latency target: tune for the best recall within it instead
    metric: str = "l2"
    extra_factories: tuple[str, ...] = ()  # compared beside the chosen index
    max_settings: int = 8  # per index, spread along its Pareto front
    seed: int = 0


@dataclass(slots=True)
class SettingResult:
    """One index at one search setting."""

    index: str
    params: str
    recall_at_1: float
    recall_at_10: float
    qps_single: float
    qps_batched: float
    build_seconds: float
    bytes: int
    chosen: bool = False


@dataclass(slots=True)
class AnnResult:
    n: int
    dim: int
    n_queries: int
    chooser: dict
    exact: SettingResult
    settings: list[SettingResult] = field(default_factory=list)
    best: SettingResult | None = None
    speedup: float = 0.0
    target_met: bool = False
    target: str = ""
    exact_qps_single_runs: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "dim": self.dim,
            "n_queries": self.n_queries,
            "chooser": self.chooser,
            "exact": asdict(self.exact),
            "exact_qps_single_runs": self.exact_qps_single_runs,
            "settings": [asdict(s) for s in self.settings],
            "best": asdict(self.best) if self.best else None,
            "speedup_single_thread": self.speedup,
            "target": self.target,
            "target_met": self.target_met,
        }


def clustered_vectors(
    n: int, dim: int, *, n_clusters: int | None = None, latent_dim: int = 48, noise: float = 0.05, seed: int = 0
) -> np.ndarray:
    """Embedding-like test data: Gaussian clusters in a low-dimensional latent space, mapped to ``dim`` dims.

    Real embeddings have far fewer effective dimensions than coordinates and gather into topics of very unequal
    size (a few popular tags, a long tail); uniform noise has none of this. Cluster sizes follow Zipf's law, so
    big clusters spread over many IVF lists, as popular topics do. Generated in float32 chunks.
    """
    rng = np.random.default_rng(seed)
    n_clusters = n_clusters or max(8, int(np.sqrt(n)))
    latent_dim = min(latent_dim, dim)
    projection = rng.standard_normal((latent_dim, dim), dtype=np.float32) / np.sqrt(latent_dim)
    centres = rng.standard_normal((n_clusters, latent_dim), dtype=np.float32)
    spreads = rng.uniform(0.3, 1.0, size=n_clusters).astype(np.float32)
    weights = 1.0 / np.arange(1, n_clusters + 1)
    weights /= weights.sum()
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        which = rng.choice(n_clusters, size=m, p=weights)
        latent = centres[which] + rng.standard_normal((m, latent_dim), dtype=np.float32) * spreads[which, None]
        out[start : start + m] = latent @ projection
        out[start : start + m] += rng.standard_normal((m, dim), dtype=np.float32) * noise
    return out


def _qps_single(index, queries: np.ndarray, k: int, *, limit: int, seconds: float, min_seconds: float = 0.5) -> float:
    """Queries per second, one query per call, on one thread.

    Runs ``limit`` queries (cycling through them until ``min_seconds`` have passed, so fast indexes are not timed
    on a few milliseconds of a shared machine), and stops early once ``seconds`` have passed (exact search).
    """
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        done = 0
        start = time.perf_counter()
        while True:
            i = done % len(queries)
            index.search(queries[i : i + 1], k)
            done += 1
            elapsed = time.perf_counter() - start
            if done >= 3 and elapsed > seconds:
                break
            if done >= min(limit, len(queries)) and elapsed >= min_seconds:
                break
        return done / (time.perf_counter() - start)
    finally:
        faiss.omp_set_num_threads(threads)


def _qps_batched(index, queries: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """Queries per second of one batch on all threads, and the ids found."""
    start = time.perf_counter()
    _, ids = index.search(queries, k)
    return len(queries) / (time.perf_counter() - start), ids


def _spread(points: list, count: int) -> list:
    if len(points) <= count:
        return points
    picks = np.linspace(0, len(points) - 1, count).round().astype(int)
    return [points[i] for i in sorted(set(picks.tolist()))]


def _settings(space, tuned: str, pareto: list[str], count: int) -> list[str]:
    """Settings to measure: the primary knob (nprobe / efSearch) swept with the tuned values of the others,
    plus points of the tuner's Pareto front; explore's own timings are too noisy to draw the curve alone."""
    import faiss

    if not tuned:
        return [""]
    fixed = dict(part.split("=") for part in tuned.split(","))
    ranges = {
        space.parameter_ranges.at(i).name: space.parameter_ranges.at(i) for i in range(space.parameter_ranges.size())
    }
    primary = next((name for name in ("nprobe", "efSearch") if name in ranges), None)
    sweep = []
    if primary is not None:
        for value in faiss.vector_to_array(ranges[primary].values):
            setting = {**fixed, primary: f"{value:g}"}
            sweep.append(",".join(f"{k}={v}" for k, v in setting.items()))
    chosen = _spread(sweep, count) + [p for p in _spread(pareto, max(2, count // 2))] + [tuned]
    return list(dict.fromkeys(chosen))


def _index_bytes(index) -> int:
    import faiss

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index.faiss")
        faiss.write_index(index, path)
        return os.path.getsize(path)


def run_ann_benchmark(
    vectors: np.ndarray,
    queries: np.ndarray | None = None,
    *,
    config: AnnConfig | None = None,
    out_dir: str | None = None,
) -> AnnResult:
    """Benchmark the chosen index (and ``extra_factories``) against exact search on ``vectors``.

    Without ``queries`` the last ``n_queries`` vectors are held out as queries. With ``out_dir`` the
    recall-QPS plot is written there as ``ann_recall_qps.png``.
    """
    import faiss

    cfg = config or AnnConfig()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if queries is None:
        nq = min(cfg.n_queries, max(1, len(vectors) // 10))
        base, queries = vectors[:-nq], vectors[-nq:]
    else:
        base, queries = vectors, np.ascontiguousarray(queries, dtype=np.float32)
    n, dim = base.shape
    k = max(cfg.k, 10)
    log.info("ANN benchmark: %d vectors of dimension %d, %d queries", n, dim, len(queries))

    start = time.perf_counter()
    exact_index = faiss.IndexFlat(dim, faiss_metric(cfg.metric))
    exact_index.add(base)
    exact_build = time.perf_counter() - start
    exact_qps_batched, truth = _qps_batched(exact_index, queries, k)
    exact_qps_single = _qps_single(
        exact_index, queries, k, limit=cfg.single_thread_queries, seconds=cfg.single_thread_seconds
    )
    exact = SettingResult("Flat", "", 1.0, 1.0, exact_qps_single, exact_qps_batched, exact_build, n * dim * 4)
    log.info("exact search: %.1f QPS single-thread, %.1f QPS batched", exact_qps_single, exact_qps_batched)

    choice = choose_index(n, dim, memory_budget=cfg.memory_budget)
    factories = [choice.factory] + [f for f in cfg.extra_factories if f != choice.factory]
    result = AnnResult(
        n=n,
        dim=dim,
        n_queries=len(queries),
        chooser={"factory": choice.factory, "reason": choice.reason, "estimated_bytes": choice.estimated_bytes},
        exact=exact,
        target=f"recall@10 >= {cfg.target_recall} at >= {cfg.target_speedup:g}x exact single-thread QPS "
        f"within {cfg.memory_budget / GIB:g} GiB"
        + (f" and {cfg.max_ms_per_query:g} ms per query" if cfg.max_ms_per_query is not None else ""),
    )
    tune_q = queries[: cfg.tune_queries]
    for factory in factories:
        start = time.perf_counter()
        index = build_index(base, factory=factory, metric=cfg.metric, seed=cfg.seed)
        build_seconds = time.perf_counter() - start
        size = _index_bytes(index)
        log.info("built %s in %.1f s (%.1f MiB)", factory, build_seconds, size / 2**20)
        tuned = tune_index(
            index,
            tune_q,
            truth[: len(tune_q)],
            k=10,
            target_recall=cfg.target_recall,
            max_ms_per_query=cfg.max_ms_per_query,
        )
        space = faiss.ParameterSpace()
        space.initialize(index)
        params = _settings(space, tuned.params, [p[0] for p in tuned.pareto], cfg.max_settings)
        for setting in params:
            if setting:
                space.set_index_parameters(index, setting)
            qps_batched, ids = _qps_batched(index, queries, k)
            qps_single = _qps_single(
                index, queries, k, limit=cfg.single_thread_queries, seconds=cfg.single_thread_seconds
            )
            row = SettingResult(
                factory,
                setting,
                recall_at(ids, truth, 1),
                recall_at(ids, truth, 10),
                qps_single,
                qps_batched,
                build_seconds,
                size,
            )
            log.info(
                "%s %s: recall@1 %.3f recall@10 %.3f, %.0f QPS single, %.0f QPS batched",
                factory,
                setting or "-",
                row.recall_at_1,
                row.recall_at_10,
                qps_single,
                qps_batched,
            )
            result.settings.append(row)
        del index

    # Exact search is timed again at the end and the two runs averaged: on a shared machine the load drifts
    # while the indexes are measured, and the speed-ups should not hang on one moment.
    again = _qps_single(exact_index, queries, k, limit=cfg.single_thread_queries, seconds=cfg.single_thread_seconds)
    result.exact_qps_single_runs = [exact_qps_single, again]
    exact.qps_single = (exact_qps_single + again) / 2
    log.info("exact search again: %.1f QPS single-thread (mean %.1f)", again, exact.qps_single)
    del exact_index
    in_budget = [s for s in result.settings if s.bytes <= cfg.memory_budget] or result.settings
    if cfg.max_ms_per_query is not None:
        # A latency target: the most accurate setting whose batched time per query is within it.
        fast = [s for s in in_budget if 1000.0 / s.qps_batched <= cfg.max_ms_per_query]
        best = max(fast, key=lambda s: s.recall_at_10) if fast else max(in_budget, key=lambda s: s.qps_batched)
        meeting = [best] if fast and best.recall_at_10 >= cfg.target_recall else []
    else:
        meeting = [s for s in in_budget if s.recall_at_10 >= cfg.target_recall]
        best = max(meeting, key=lambda s: s.qps_single) if meeting else max(in_budget, key=lambda s: s.recall_at_10)
    best.chosen = True
    result.best = best
    result.speedup = best.qps_single / exact.qps_single if exact.qps_single else 0.0
    result.target_met = bool(meeting) and result.speedup >= cfg.target_speedup
    if out_dir:
        plot_recall_qps(result, os.path.join(out_dir, "ann_recall_qps.png"), target_recall=cfg.target_recall)
    return result


def plot_recall_qps(result: AnnResult, path: str, *, target_recall: float = 0.95) -> str:
    """Recall@10 against single-thread QPS (log scale), one line per index, exact search as a point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_index: dict[str, list[SettingResult]] = {}
    for row in result.settings:
        by_index.setdefault(row.index, []).append(row)
    for name, rows in by_index.items():
        rows = sorted(rows, key=lambda r: r.recall_at_10)
        ax.plot([r.recall_at_10 for r in rows], [r.qps_single for r in rows], marker="o", label=name)
    ax.scatter([1.0], [result.exact.qps_single], marker="*", s=160, color="black", label="exact (Flat)", zorder=3)
    if result.best is not None:
        ax.scatter(
            [result.best.recall_at_10],
            [result.best.qps_single],
            s=220,
            facecolors="none",
            edgecolors="red",
            label=f"best: {result.speedup:.0f}x exact",
            zorder=4,
        )
    ax.axvline(target_recall, color="grey", linestyle="--", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10 against exact search")
    ax.set_ylabel("queries per second (one thread)")
    ax.set_title(f"{result.n:,} vectors x {result.dim} dims, {result.n_queries} queries")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def ann_section(result: AnnResult, *, plot: str | None = None) -> Section:
    """The report section of an ANN benchmark run."""
    columns = ["index", "params", "recall@1", "recall@10", "QPS 1 thread", "QPS batched", "build s", "MiB", "x exact"]

    def row(s: SettingResult) -> list:
        ratio = s.qps_single / result.exact.qps_single if result.exact.qps_single else 0.0
        mark = " (best)" if s.chosen else ""
        return [
            s.index + mark,
            s.params or "-",
            f"{s.recall_at_1:.3f}",
            f"{s.recall_at_10:.3f}",
            f"{s.qps_single:,.0f}",
            f"{s.qps_batched:,.0f}",
            f"{s.build_seconds:.1f}",
            f"{s.bytes / 2**20:,.1f}",
            f"{ratio:.1f}",
        ]

    rows = [row(result.exact)] + [row(s) for s in result.settings]
    verdict = "met" if result.target_met else "NOT met"
    text = (
        f"Chosen index: `{result.chooser['factory']}` ({result.chooser['reason']}). "
        f"Target ({result.target}): {verdict}; the best setting runs at {result.speedup:.1f}x exact single-thread QPS."
    )
    return Section(
        key="ann",
        title="ANN index fidelity (FAISS)",
        text=text,
        tables=[Table(columns=columns, rows=rows, caption="Every setting against exact search in the same run.")],
        plots=[plot] if plot else [],
        metrics=result.to_dict(),
    )
