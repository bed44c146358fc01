"""The one on-disk layout of a chosen index, written by ``acg2vec index`` and ``acg2vec eval images`` and read by
``acg2vec serve``::

    <folder>/index.faiss          the FAISS index
    <folder>/index_choice.json    the :class:`ChosenIndex`: factory, tuned search parameters, why, measured curve
    <folder>/ids.npy              optional: the id of every row (int64)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from acg2vec.errors import UserError
from acg2vec.indexes.search import apply_params

INDEX_FILE = "index.faiss"
CHOICE_FILE = "index_choice.json"
IDS_FILE = "ids.npy"


@dataclass(slots=True)
class ChosenIndex:
    """What index was chosen and why, with the measured recall-QPS curve of every candidate (JSON-serialisable).

    ``qps`` is queries per second on one thread at ``params``, timed over batches of the leave-one-out queries (a
    loop of one query per call adds per-call overhead: benchmarks/ann.py measures that on held-out queries);
    ``curve`` holds every measured point: ``factory``, ``params``, ``recall`` (recall@k against exact search),
    ``qps``, ``ms``, ``stage`` (``screen``: compared on a sample of the vectors; ``final``: the chosen index,
    re-tuned on all of them).
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


def save_index(out_dir: str, index, chosen: ChosenIndex, *, ids: np.ndarray | None = None) -> None:
    """Write ``index.faiss``, ``index_choice.json`` and, given ``ids``, ``ids.npy`` into ``out_dir``."""
    import faiss

    os.makedirs(out_dir, exist_ok=True)
    faiss.write_index(index, os.path.join(out_dir, INDEX_FILE))
    with open(os.path.join(out_dir, CHOICE_FILE), "w", encoding="utf-8") as fh:
        json.dump(chosen.to_json(), fh, indent=1)
    if ids is not None:
        np.save(os.path.join(out_dir, IDS_FILE), np.asarray(ids, dtype=np.int64))


def load_index(out_dir: str, *, mmap: bool = True):
    """Read an index written by :func:`save_index` with its tuned parameters applied: ``(index, ChosenIndex)``.

    With ``mmap`` the file is memory-mapped read-only where FAISS supports it (the inverted lists of IVF indexes),
    so several server processes share one copy of the codes through the page cache.
    """
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
