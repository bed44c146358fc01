"""Work search: a query's best title rows by a scorer, grouped into works with their titles in every language.

The scorers are those of ``acg2vec eval texts`` (:class:`acg2vec.evaluation.text_search.TextSearcher`), over the
indexed title rows:

- ``dense`` asks the vector store (FAISS or Milvus) for the acgvoc2vec neighbours;
- ``lexical`` is the searcher's script-normalised character n-gram TF-IDF; rows sharing no n-gram with the query
  (score 0) are no match and are left out;
- ``hybrid`` fuses both with the searcher's own :meth:`~TextSearcher.fuse` (weighted by default).
  The candidates are the store's dense neighbours and the lexical index's best rows; each gets its exact dense
  score (from the index's unit vectors) and its lexical score, so where the candidates hold the best rows (always,
  for an index of up to :data:`MIN_CANDIDATES` titles, or with an exact FAISS index) the ranking is the one
  ``eval texts`` gives for the same model.

A request that names no scorer gets the model's default, :func:`~acg2vec.evaluation.text_search.default_scorer`
(dense for a fine-tuned pretrained model, hybrid for one trained from scratch), the one ``eval texts`` marks.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from acg2vec.evaluation.text_search import CANDIDATES, TextSearcher, top_k
from acg2vec.serving.catalog import Works
from acg2vec.serving.stores.base import VECTORS_FILE, VectorStore

log = logging.getLogger(__name__)

SCORERS = ("hybrid", "dense", "lexical")
# Title rows fetched per requested work: a work has a few titles and aliases, and fusion needs candidates.
ROWS_PER_WORK = 8
# At least the rows reciprocal-rank fusion ranks, so that fusion's ranks among the candidates are the true ones.
MIN_CANDIDATES = CANDIDATES

Ranking = list[tuple[int, float]]


class WorkSearch:
    """Search the title rows of a works index (``ids`` = row numbers) and answer works."""

    def __init__(self, store: VectorStore, works: Works, *, default: str = SCORERS[0]) -> None:
        self.store = store
        self.works = works
        self.searcher = TextSearcher(works.text_of_row, scorer="lexical")
        # The unit vectors of the title rows, row = id: the dense score of a lexical candidate.
        self.vectors = np.load(os.path.join(store.index_dir, VECTORS_FILE), mmap_mode="r")
        self.scorers = (default, *(s for s in SCORERS if s != default))  # the default first (the page's choice)
        self.default = default

    def fetch(self, k: int) -> int:
        """Title rows fetched for ``k`` works."""
        return min(self.store.count, max(MIN_CANDIDATES, k * ROWS_PER_WORK))

    def search_many(
        self,
        queries: list[str],
        vectors: np.ndarray | None,
        *,
        ks: list[int],
        scorers: list[str | None] | None = None,
    ) -> list[list[dict]]:
        """The ``k`` best works of each query by its scorer (the default when None). A micro-batch's queries are
        searched together: one vector-store call and one lexical scoring pass per distinct number of fetched
        rows, instead of one of each per query -- the lexical pass is mostly fixed cost (sparse matrix set-up),
        so sixteen queries cost about twice one."""
        scorers = [scorer or self.default for scorer in (scorers or [None] * len(queries))]
        fetches = [self.fetch(k) for k in ks]
        ranked: list[Ranking] = [[] for _ in queries]
        for fetch in sorted(set(fetches)):
            rows = [i for i, f in enumerate(fetches) if f == fetch]
            dense_rows = [i for i in rows if scorers[i] in ("dense", "hybrid")]
            lexical_rows = [i for i in rows if scorers[i] in ("lexical", "hybrid")]
            dense = dict(zip(dense_rows, self._dense(vectors[dense_rows], fetch), strict=True)) if dense_rows else {}
            lexical = {}
            if lexical_rows:
                scores = self.searcher.scores([queries[i] for i in lexical_rows], scorer="lexical")
                lexical = dict(zip(lexical_rows, scores, strict=True))
            for i in rows:
                if scorers[i] == "dense":
                    ranked[i] = dense[i]
                elif scorers[i] == "lexical":
                    ranked[i] = [(row, score) for row, score in _best(lexical[i], fetch) if score > 0]
                else:
                    ranked[i] = self._hybrid(vectors[i], dense[i], lexical[i], fetch)
        return [self.works.group(ranking, k) for ranking, k in zip(ranked, ks, strict=True)]

    def _dense(self, vectors: np.ndarray, fetch: int) -> list[Ranking]:
        return [[(h.id, h.score) for h in hits] for hits in self.store.search(vectors, fetch)]

    def _hybrid(self, vector: np.ndarray, dense: Ranking, lexical: np.ndarray, fetch: int) -> Ranking:
        """The searcher's fusion over the union of the dense and the lexical candidates (rows in ascending
        order, so ties fall to the lower row as in :func:`top_k`)."""
        rows = np.union1d(np.asarray([row for row, _ in dense], np.int64), top_k(lexical, fetch))
        query = np.asarray(vector, np.float32)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        dense_scores = np.asarray(self.vectors[rows], np.float32) @ query
        fused = self.searcher.fuse(dense_scores[None, :], lexical[rows][None, :])[0]
        return [(int(rows[j]), float(fused[j])) for j in top_k(fused, fetch)]


def _best(scores: np.ndarray, k: int) -> Ranking:
    return [(int(i), float(scores[i])) for i in top_k(scores, k)]
