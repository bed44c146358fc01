"""Serving: vector stores (FAISS embedded, Milvus), the served models, micro-batching and the REST app with its page.

``acg2vec index`` writes ``<workdir>/index/<name>/`` (vectors, ids, the FAISS index and the metadata the API
returns); ``acg2vec serve`` loads them with the models once and answers under ``/v1``.
"""
