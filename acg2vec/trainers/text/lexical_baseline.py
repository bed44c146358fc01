"""The lexical baseline: character n-gram TF-IDF cosine similarity, fitted on the training texts.

Character n-grams need no word segmentation, so they work on Chinese and Japanese as well as English; they
catch shared Han characters between ja and zh titles and shared Latin strings, and nothing else. By default the
texts are script-normalised first (:mod:`acg2vec.trainers.text.normalize`, the same transform the encoder
applies), so 鋼 and 钢 are one n-gram; ``normalization="none"`` gives the plain index. A trained encoder has to
beat the normalised one to be worth its cost. The same index is the lexical scorer of
:class:`acg2vec.evaluation.text_search.TextSearcher`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from acg2vec.trainers.text.evaluators import EvalSets, score_similarities
from acg2vec.trainers.text.normalize import NORMALIZATION, normalizer

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer


@dataclass(slots=True)
class LexicalConfig:
    ngram_range: tuple[int, int] = (1, 3)
    max_features: int | None = 200_000
    sublinear_tf: bool = True
    normalization: str = NORMALIZATION  # or "none": the plain index


class CharNgramTfidf:
    """TF-IDF over character 1..3-grams (within word boundaries), L2-normalised, compared by cosine."""

    def __init__(self, config: LexicalConfig | None = None) -> None:
        self.config = config or LexicalConfig()
        self.vectorizer: TfidfVectorizer | None = None

    def fit(self, texts: Iterable[str]) -> CharNgramTfidf:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=self.config.ngram_range,
            max_features=self.config.max_features,
            sublinear_tf=self.config.sublinear_tf,
            # The preprocessor replaces sklearn's lowercasing; the normaliser casefolds.
            preprocessor=_Preprocessor(self.config.normalization),
        )
        self.vectorizer.fit(texts)
        return self

    def transform(self, texts: list[str]):
        """L2-normalised sparse rows (scipy CSR): inner product is cosine."""
        if self.vectorizer is None:
            raise RuntimeError("fit the baseline first")
        return self.vectorizer.transform(texts)

    def similarity(self, texts_a: list[str], texts_b: list[str]) -> np.ndarray:
        if self.vectorizer is None:
            raise RuntimeError("fit the baseline first")
        a = self.vectorizer.transform(texts_a)
        b = self.vectorizer.transform(texts_b)
        return np.asarray((a @ b.T).todense(), dtype=np.float32)


class _Preprocessor:
    """A picklable preprocessor: the named normalisation, or casefolding alone for the plain index."""

    def __init__(self, normalization: str) -> None:
        self.normalization = normalization

    def __call__(self, text: str) -> str:
        return normalizer(self.normalization)(text).casefold()


def lexical_baseline_metrics(
    train_texts: Iterable[str], sets: EvalSets, *, normalization: str = NORMALIZATION
) -> dict[str, float]:
    """The baseline's scores on the held-out eval sets, under the same metric names as the encoder's."""
    index = CharNgramTfidf(LexicalConfig(normalization=normalization)).fit(train_texts)
    return score_similarities(sets, index.similarity)
