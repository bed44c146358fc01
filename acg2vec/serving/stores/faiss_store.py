"""The embedded default: the FAISS index chosen by ``acg2vec index``, memory-mapped where its type allows."""

from __future__ import annotations

import os

import numpy as np

from acg2vec.serving.stores.base import VECTORS_FILE, VectorStore, repair_command


class FaissStore(VectorStore):
    backend = "faiss"

    def __init__(self, index_dir: str, *, mmap: bool = True, repair: str = "") -> None:
        from acg2vec.indexes.files import load_ids, load_index

        super().__init__(index_dir)
        repair = repair or repair_command(index_dir)
        # load_index checks the folder (checksums, the vector count against meta's and the ids' length) first.
        self.index, self.choice = load_index(index_dir, mmap=mmap, repair=repair)
        self.ids = load_ids(index_dir, int(self.index.ntotal), repair=repair)
        # Rows are looked up one at a time (similar-to-a-post); mapping keeps them on disk until touched.
        self.vectors = np.load(os.path.join(index_dir, VECTORS_FILE), mmap_mode="r")
        self.row_of = {int(i): row for row, i in enumerate(self.ids.tolist())}

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, rows = self.index.search(queries, k)
        ids = np.where(rows >= 0, self.ids[np.clip(rows, 0, None)], -1)
        return scores, ids

    def vector(self, id_: int) -> np.ndarray | None:
        row = self.row_of.get(int(id_))
        return None if row is None else np.asarray(self.vectors[row], dtype=np.float32)
