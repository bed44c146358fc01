"""acg2vec.indexes: the FAISS index policy, one implementation used by ``index``, ``serve`` and ``eval``.

- ``candidates``: the rules that propose candidates (exact, HNSW, IVF with fast-scan PQ and re-ranking) and the
  size estimates they are checked against;
- ``measure``: the recall-QPS curve of one index (leave-one-out queries, the parameter sweep, the preference order);
- ``index_choice.build_chosen_index``: measures the candidates on the collection and keeps the fastest setting that
  reaches the recall target (exact ``Flat`` for small collections, as the rules say);
- ``files``: the one on-disk layout (``index.faiss``, ``index_choice.json``, ``ids.npy``): ``save_index`` /
  ``load_index``;
- ``search``: the metric, search parameters, exact search, recall@k and index size every step shares;
- ``synthetic``: generated embedding-like vectors for benchmarks, the demo and tests.
"""
