"""Milvus: the same index folder's vectors in a Milvus collection, for collections that outgrow one machine.

One collection per index folder, named ``acg2vec_<folder>`` (``-`` becomes ``_``): an INT64 primary key ``id``
(the post id or title row) and a FLOAT_VECTOR ``vector`` of the folder's unit vectors, indexed for inner product
(= cosine). The Milvus index follows the folder's FAISS choice: ``FLAT`` (exact, so both stores return the same
neighbours) where FAISS chose ``Flat``, else ``AUTOINDEX`` (HNSW on a server). The metadata stays in the index
folder. A collection whose row count or dimension differs from the
folder's is dropped and loaded again from ``vectors.npy`` (``acg2vec index ... --vectors milvus`` does it ahead
of time). ``uri`` is a Milvus server (``http://host:19530``) or a milvus-lite file (``/path/vectors.db``).
"""

from __future__ import annotations

import logging
import os
import re

import numpy as np

from acg2vec.errors import UserError
from acg2vec.indexes.files import IDS_FILE
from acg2vec.serving.stores.base import VECTORS_FILE, VectorStore, check_vectors, repair_command

log = logging.getLogger(__name__)

# Milvus answers at most 16,384 neighbours per query.
MAX_TOPK = 16_384
INSERT_CHUNK = 2_000


def collection_name(index_dir: str) -> str:
    return "acg2vec_" + re.sub(r"[^0-9A-Za-z_]", "_", os.path.basename(os.path.normpath(index_dir)))


def connect(uri: str, token: str | None = None):
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    try:
        return MilvusClient(uri=uri, token=token or "")
    except MilvusException as err:
        raise UserError(f"cannot connect to Milvus at {uri}: {err.message}") from None


def milvus_index_type(meta: dict) -> str:
    """``FLAT`` where the folder's FAISS index is exact (acg2vec.indexes chose ``Flat``), else ``AUTOINDEX``."""
    return "FLAT" if meta.get("factory") == "Flat" else "AUTOINDEX"


class MilvusStore(VectorStore):
    backend = "milvus"

    def __init__(
        self,
        index_dir: str,
        *,
        uri: str,
        token: str | None = None,
        client=None,
        index_type: str | None = None,
        rebuild: bool = False,
    ) -> None:
        super().__init__(index_dir)
        self.uri = uri
        self.client = client or connect(uri, token)
        self._own_client = client is None
        self.collection = collection_name(index_dir)
        self.ensure_collection(index_type=index_type or milvus_index_type(self.meta), rebuild=rebuild)

    def ensure_collection(self, *, index_type: str = "AUTOINDEX", rebuild: bool = False) -> None:
        """Create and fill the collection from the folder's vectors unless it already holds exactly them."""
        from pymilvus import DataType, MilvusClient

        client, name = self.client, self.collection
        if client.has_collection(name) and not rebuild:
            fields = {f["name"]: f for f in client.describe_collection(name)["fields"]}
            dim = int(fields.get("vector", {}).get("params", {}).get("dim", -1))
            rows = int(client.get_collection_stats(name).get("row_count", -1))
            if dim == self.dim and rows == self.count:
                client.load_collection(name)
                return
            log.info("Milvus collection %s holds %d x %d, the folder %d x %d: reloading", name, rows, dim,
                     self.count, self.dim)  # fmt: skip
        # The folder's own files are what Milvus gets: they agree with meta.json, or the load stops here with the
        # collection as it was.
        check_vectors(self.index_dir, self.meta, repair_command(self.index_dir))
        if client.has_collection(name):
            client.drop_collection(name)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        params = client.prepare_index_params()
        params.add_index(field_name="vector", index_type=index_type, metric_type="IP")
        client.create_collection(name, schema=schema, index_params=params)
        ids = np.load(os.path.join(self.index_dir, IDS_FILE))
        vectors = np.load(os.path.join(self.index_dir, VECTORS_FILE), mmap_mode="r")
        for start in range(0, len(ids), INSERT_CHUNK):
            block = np.asarray(vectors[start : start + INSERT_CHUNK], dtype=np.float32)
            chunk_ids = ids[start : start + INSERT_CHUNK]
            rows = [{"id": int(i), "vector": v.tolist()} for i, v in zip(chunk_ids, block, strict=True)]
            client.insert(name, rows)
        client.flush(name)
        client.load_collection(name)
        log.info("Milvus collection %s: %d vectors of dimension %d", name, len(ids), self.dim)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, MAX_TOPK)
        answers = self.client.search(
            self.collection, data=queries.tolist(), limit=k, output_fields=["id"], search_params={"metric_type": "IP"}
        )
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, hits in enumerate(answers):
            for j, hit in enumerate(hits[:k]):
                scores[row, j] = float(hit["distance"])
                ids[row, j] = int(hit["id"])
        return scores, ids

    def vector(self, id_: int) -> np.ndarray | None:
        rows = self.client.query(self.collection, filter=f"id == {int(id_)}", output_fields=["vector"])
        return np.asarray(rows[0]["vector"], dtype=np.float32) if rows else None

    def close(self) -> None:
        if self._own_client:
            self.client.close()
