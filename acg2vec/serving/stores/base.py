"""The vector-store interface: nearest neighbours of unit vectors by inner product (cosine), keyed by int64 ids.

An index folder (``<workdir>/index/<name>/``) holds ``vectors.npy`` (float32, unit rows), ``ids.npy`` (the id of
each row) and ``meta.json``; each backend builds its own search structure from them. Filters (rating, required
tags) are predicates on ids applied after the search: a store fetches more neighbours until ``k`` pass or
every vector has been seen, so both backends filter the same way.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from acg2vec.errors import UserError

VECTORS_FILE = "vectors.npy"
META_FILE = "meta.json"
# The command that writes each folder of index/ again (index/entities/ is written with the works index).
REPAIR_COMMANDS = {
    "images": "acg2vec index images",
    "works": "acg2vec index texts",
    "tags": "acg2vec index texts",
    "entities": "acg2vec index texts",
}


def repair_command(index_dir: str) -> str:
    """The command that writes ``index_dir`` again (``acg2vec index images`` for index/images/, ...)."""
    name = os.path.basename(os.path.normpath(index_dir))
    return REPAIR_COMMANDS.get(name, "acg2vec index images or acg2vec index texts")


@dataclass(slots=True)
class Hit:
    id: int
    score: float


def read_meta(index_dir: str) -> dict:
    """An index folder's ``meta.json``; one that is not a JSON object with the vector count and dimension is
    :class:`~acg2vec.integrity.DamagedFileError`."""
    from acg2vec.integrity import DamagedFileError

    path = os.path.join(index_dir, META_FILE)
    if not os.path.isfile(path):
        raise UserError(f"no index at {index_dir} ({META_FILE} is missing); build it with `acg2vec index`.")
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh)
        if not isinstance(meta, dict) or "kind" not in meta:
            raise ValueError("not an index description of this version")
    except (ValueError, UnicodeDecodeError) as err:
        raise DamagedFileError(
            path, f"not a readable {META_FILE}: {err}", lost=f"the index {index_dir} cannot be used",
            repair=repair_command(index_dir),
        ) from None  # fmt: skip
    return meta


def check_vectors(folder: str, meta: dict, repair: str) -> None:
    """``vectors.npy`` holds ``count`` rows of ``dim`` floats and ``ids.npy`` ``count`` ids, as ``meta.json`` says."""
    from acg2vec.indexes.files import load_ids
    from acg2vec.integrity import DamagedFileError

    count, dim = int(meta.get("count", -1)), int(meta.get("dim", -1))
    path = os.path.join(folder, VECTORS_FILE)
    lost = f"the {count:,} kept vectors of the index {folder} are lost"
    try:
        shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
    except (ValueError, OSError, EOFError) as err:
        raise DamagedFileError(path, f"not a readable vector array: {err}", lost=lost, repair=repair) from None
    if shape != (count, dim):
        problem = f"it holds {shape} where {count:,} vectors of dimension {dim} were written"
        raise DamagedFileError(path, problem, lost=lost, repair=repair)
    load_ids(folder, count, repair=repair)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32: inner product is then cosine similarity."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class VectorStore(ABC):
    """Search one index folder's vectors. Subclasses implement :meth:`_search` and :meth:`vector`."""

    backend: str = ""

    def __init__(self, index_dir: str) -> None:
        self.index_dir = index_dir
        self.meta = read_meta(index_dir)
        self.name = os.path.basename(os.path.normpath(index_dir))
        self.dim = int(self.meta["dim"])
        self.count = int(self.meta["count"])

    @abstractmethod
    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids [len(queries), k] of the nearest vectors, best first; id -1 pads missing results."""

    @abstractmethod
    def vector(self, id_: int) -> np.ndarray | None:
        """The stored (unit) vector of ``id_``, or None when the store does not hold it."""

    def close(self) -> None:  # noqa: B027 -- FAISS holds nothing to release
        """Release connections (Milvus); FAISS holds nothing to release."""

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        keep: Callable[[int], bool] | None = None,
        exclude: set[int] | None = None,
    ) -> list[list[Hit]]:
        """The ``k`` best hits of each query among the ids ``keep`` accepts (all when None), ``exclude`` left out."""
        queries = unit_rows(queries)
        if queries.shape[1] != self.dim:
            raise ValueError(f"query dimension {queries.shape[1]} differs from the index's {self.dim}")
        exclude = exclude or set()
        results: list[list[Hit]] = [[] for _ in range(len(queries))]
        pending = list(range(len(queries)))
        fetch = min(self.count, k + len(exclude))
        while pending and fetch > 0:
            scores, ids = self._search(queries[pending], fetch)
            still = []
            # Plain Python numbers first (``tolist``): iterating the arrays would make a NumPy scalar of every
            # score and id, which cost more than the FAISS search itself for a hundred candidates.
            for row, query in enumerate(pending):
                hits = [
                    Hit(i, s)
                    for s, i in zip(scores[row].tolist(), ids[row].tolist(), strict=True)
                    if i >= 0 and i not in exclude and (keep is None or keep(i))
                ]
                results[query] = hits[:k]
                if len(hits) < k and fetch < self.count:
                    still.append(query)
            pending = still
            # Filters rejected too many: look four times deeper (the whole index at worst).
            fetch = min(self.count, fetch * 4)
        return results
