"""What every index step shares: the FAISS metric, search parameters, exact search (the ground truth), recall@k
against it, and the size of an index."""

from __future__ import annotations

import numpy as np

from acg2vec.errors import UserError


def faiss_metric(metric: str) -> int:
    """The FAISS metric constant of ``l2`` or ``ip``."""
    import faiss

    if metric == "l2":
        return faiss.METRIC_L2
    if metric == "ip":
        return faiss.METRIC_INNER_PRODUCT
    raise UserError(f"unknown metric {metric!r}; use 'l2' or 'ip' (inner product on normalised vectors = cosine).")


def apply_params(index, params: str) -> None:
    """Set search parameters (a ``faiss.ParameterSpace`` string such as ``nprobe=16,k_factor_rf=4``) on ``index``."""
    import faiss

    if params:
        faiss.ParameterSpace().set_index_parameters(index, params)


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


def index_bytes(index) -> int:
    """Size of the serialised index in bytes (what it occupies on disk and, closely, in memory)."""
    import faiss

    return int(faiss.serialize_index(index).size)
