"""Vector stores behind one interface: :class:`~acg2vec.serving.stores.base.VectorStore`.

``faiss_store`` (the embedded default: index files beside their id arrays, memory-mapped) and ``milvus_store``
(a Milvus collection per index, for collections that outgrow one machine).
"""

from __future__ import annotations

from acg2vec.serving.stores.base import Hit, VectorStore

BACKENDS = ("faiss", "milvus")


def open_store(index_dir: str, *, backend: str = "faiss", milvus_uri: str | None = None, **kwargs) -> VectorStore:
    """The vectors of ``index_dir`` behind ``backend`` (``faiss`` or ``milvus``)."""
    from acg2vec.errors import UserError

    if backend == "faiss":
        from acg2vec.serving.stores.faiss_store import FaissStore

        return FaissStore(index_dir, **kwargs)
    if backend == "milvus":
        from acg2vec.serving.stores.milvus_store import MilvusStore

        if not milvus_uri:
            raise UserError("--vectors milvus needs --milvus-uri (a Milvus server URL or a milvus-lite .db file).")
        return MilvusStore(index_dir, uri=milvus_uri, **kwargs)
    raise UserError(f"unknown vector store {backend!r}; use one of {', '.join(BACKENDS)}.")


__all__ = ["BACKENDS", "Hit", "VectorStore", "open_store"]
