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

    def search(self, query: str, vector: np.ndarray | None, *, k: int, scorer: str | None = None) -> list[dict]:
        scorer = scorer or self.default
        fetch = min(self.store.count, max(MIN_CANDIDATES, k * ROWS_PER_WORK))
        dense = lexical = None
        if scorer in ("dense", "hybrid"):
            dense = [(h.id, h.score) for h in self.store.search(vector[None, :], fetch)[0]]
        if scorer in ("lexical", "hybrid"):
            lexical = [
                (row, score) for row, score in self.lexical.search([query], fetch, scorer="lexical")[0] if score > 0
            ]
        if scorer == "dense":
            hits = dense
        elif scorer == "lexical":
            hits = lexical
        else:
            fused: dict[int, float] = {}
            for ranking in (dense, lexical):
                for rank, (row, _) in enumerate(ranking, start=1):
                    fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank)
            hits = sorted(fused.items(), key=lambda item: -item[1])
        return self.works.group(hits, k)
