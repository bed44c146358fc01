"""The lexical baseline: character n-gram TF-IDF cosine similarity, fitted on the training texts.

Character n-grams need no word segmentation, so they work on Chinese and Japanese as well as English; they
catch shared Han characters between ja and zh titles and shared Latin strings, and nothing else. A trained
encoder has to beat this to be worth its cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from acg2vec.trainers.text.evaluators import EvalSets, score_similarities

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer


@dataclass(slots=True)
class LexicalConfig:
    ngram_range: tuple[int, int] = (1, 3)
    max_features: int | None = 200_000
    sublinear_tf: bool = True


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
            lowercase=True,
        )
        self.vectorizer.fit(texts)
        return self

    def similarity(self, texts_a: list[str], texts_b: list[str]) -> np.ndarray:
        if self.vectorizer is None:
            raise RuntimeError("fit the baseline first")
        a = self.vectorizer.transform(texts_a)
        b = self.vectorizer.transform(texts_b)
        return np.asarray((a @ b.T).todense(), dtype=np.float32)


def lexical_baseline_metrics(train_texts: Iterable[str], sets: EvalSets) -> dict[str, float]:
    """The baseline's scores on the held-out eval sets, under the same metric names as the encoder's."""
    return score_similarities(sets, CharNgramTfidf().fit(train_texts).similarity)
