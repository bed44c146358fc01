"""Work search: a query's best title rows by a scorer, grouped into works with their titles in every language.

``dense`` asks the vector store (FAISS or Milvus) for the acgvoc2vec neighbours; ``lexical`` scores script-
normalised character n-grams (:class:`acg2vec.evaluation.text_search.TextSearcher`); ``hybrid`` (the default)
fuses the two rankings by reciprocal rank, as the text evaluation does.
"""

from __future__ import annotations

import logging

import numpy as np

from acg2vec.serving.catalog import Works
from acg2vec.serving.stores.base import VectorStore

log = logging.getLogger(__name__)

RRF_K = 60
# Title rows fetched per requested work: a work has a few titles and aliases, and fusion needs candidates.
ROWS_PER_WORK = 8
MIN_CANDIDATES = 100


class WorkSearch:
    def __init__(self, store: VectorStore, works: Works) -> None:
        self.store = store
        self.works = works
        try:
            from acg2vec.evaluation.text_search import TextSearcher

            self.lexical = TextSearcher(works.text_of_row, scorer="lexical")
        except ImportError:  # an acg2vec without the lexical index: dense search alone
            self.lexical = None
        self.scorers = ("hybrid", "dense", "lexical") if self.lexical is not None else ("dense",)
        self.default = self.scorers[0]

    def fetch(self, k: int) -> int:
        """Title rows fetched for ``k`` works."""
        return min(self.store.count, max(MIN_CANDIDATES, k * ROWS_PER_WORK))

    def search(self, query: str, vector: np.ndarray | None, *, k: int, scorer: str | None = None) -> list[dict]:
        return self.search_many([query], None if vector is None else vector[None, :], ks=[k], scorers=[scorer])[0]

    def search_many(
        self,
        queries: list[str],
        vectors: np.ndarray | None,
        *,
        ks: list[int],
        scorers: list[str | None] | None = None,
    ) -> list[list[dict]]:
        """:meth:`search` for several queries at once (a micro-batch): one vector-store call and one lexical
        scoring pass per distinct number of fetched rows, instead of one of each per query -- the lexical pass
        is mostly fixed cost (sparse matrix set-up), so sixteen queries cost about twice one."""
        scorers = [scorer or self.default for scorer in (scorers or [None] * len(queries))]
        fetches = [self.fetch(k) for k in ks]
        dense: list[list[tuple[int, float]] | None] = [None] * len(queries)
        lexical: list[list[tuple[int, float]] | None] = [None] * len(queries)
        for fetch in sorted(set(fetches)):
            rows = [i for i, f in enumerate(fetches) if f == fetch and scorers[i] in ("dense", "hybrid")]
            if rows:
                for i, hits in zip(rows, self.store.search(vectors[rows], fetch), strict=True):
                    dense[i] = [(h.id, h.score) for h in hits]
            rows = [i for i, f in enumerate(fetches) if f == fetch and scorers[i] in ("lexical", "hybrid")]
            if rows:
                ranked = self.lexical.search([queries[i] for i in rows], fetch, scorer="lexical")
                for i, ranking in zip(rows, ranked, strict=True):
                    lexical[i] = [(row, score) for row, score in ranking if score > 0]
        return [
            self.works.group(fuse(scorer, dense[i], lexical[i]), k)
            for i, (scorer, k) in enumerate(zip(scorers, ks, strict=True))
        ]


def fuse(
    scorer: str, dense: list[tuple[int, float]] | None, lexical: list[tuple[int, float]] | None
) -> list[tuple[int, float]]:
    """One scorer's ranking, or for ``hybrid`` the reciprocal-rank fusion of both."""
    if scorer == "dense":
        return dense
    if scorer == "lexical":
        return lexical
    fused: dict[int, float] = {}
    for ranking in (dense, lexical):
        for rank, (row, _) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(fused.items(), key=lambda item: -item[1])
