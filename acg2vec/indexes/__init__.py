"""acg2vec.indexes: the FAISS index policy, one implementation used by ``index``, ``serve`` and ``eval``.

- ``faiss_index``: the candidate rules (exact, HNSW, IVF with fast-scan PQ and re-ranking) and the index files;
- ``index_choice.build_chosen_index``: measures the candidates on the collection and keeps the fastest setting that
  reaches the recall target, recording the choice in ``index_choice.json``.
"""
