"""Search a list of texts (titles, names, tags) with a dense encoder, a lexical index, or both fused.

The one text search of acg2vec: ``acg2vec eval texts`` ranks with it and ``acg2vec serve``'s work search fuses
with :meth:`TextSearcher.fuse`, so ``hybrid`` means the same ranking in the benchmark and on the server.

Scorers:

- ``dense``: cosine of acgvoc2vec embeddings (the encoder, a SentenceTransformer, or ``embeddings`` given for the
  texts plus ``query_embeddings`` at search time).
- ``lexical``: cosine of script-normalised character 1-3-gram TF-IDF (:class:`CharNgramTfidf`), fitted on the
  searched texts unless given ``fit_texts`` or a fitted ``lexical`` index.
- ``hybrid``: :func:`fuse` of the two score matrices. :data:`FUSION` (weighted) is the default:
  ``WEIGHT * dense + (1 - WEIGHT) * lexical`` on the two cosines. ``fusion="rrf"`` gives reciprocal-rank fusion,
  ``sum 1 / (RRF_K + rank)`` over each scorer's top :data:`CANDIDATES`. The default is the one the real zh / ja
  title benchmark picks (``benchmarks/text_quality.py``, figures in docs/benchmarks.md): the weighted fusion beats
  both scorers there while RRF stays near the dense scorer, since ranks throw away how much surer one scorer is
  than the other.

The default scorer, one rule for ``eval texts`` and ``serve`` alike (:func:`default_scorer`, measured on the real
zh / ja title dev set of ``benchmarks/text_quality.py``, docs/benchmark-runs/2026-12-07-text-default-scorer.md):
``dense`` for an acgvoc2vec fine-tuned from a pretrained base (multilingual-e5-small, the default of ``train
text``, or any other pretrained folder or hub id): the weighted fusion with TF-IDF is level with the encoder alone
or below it there (it adds the lexical index's mistakes on sequels and look-alikes); ``hybrid`` for one built from
scratch (``--config scratch``), which the fusion lifts, and for a folder ``train text`` did not write (no
``training_args.json``: a downloaded model, or the pretrained base used as it is, which the fusion also helped on
validation); ``lexical`` without a model. The model folder's ``training_args.json`` says which base a model was
fine-tuned from.

Both scorers see the same strings: queries and texts are script-normalised once here (the transform is
idempotent, so an acgvoc2vec encoder that normalises again inside gets the same input).

    searcher = TextSearcher(titles, encoder=load_encoder("models/acgvoc2vec"))
    searcher.search(["涼宮ハルヒの憂鬱"], k=5)          # [[(row, score), ...]]
    searcher.search(["凉宫春日"], k=5, scorer="lexical")
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from acg2vec.errors import UserError
from acg2vec.trainers.text.base_model import is_scratch
from acg2vec.trainers.text.lexical_baseline import CharNgramTfidf, LexicalConfig
from acg2vec.trainers.text.normalize import NORMALIZATION, normalizer

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

SCORERS = ("dense", "lexical", "hybrid")
FUSIONS = ("rrf", "weighted")
FUSION = "weighted"  # the hybrid scorer's fusion wherever acg2vec ranks texts (eval, serve)
WEIGHT = 0.5  # weighted fusion: the dense score's share
RRF_K = 60  # reciprocal-rank fusion: 1 / (RRF_K + rank)
CANDIDATES = 100  # reciprocal-rank fusion: the top rows of each scorer that get a rank
# The default scorer by the model's base (see default_scorer): measured, not assumed.
DEFAULT_SCORER = {"pretrained": "dense", "scratch": "hybrid", "unrecorded": "hybrid", "none": "lexical"}
TRAINING_ARGS = "training_args.json"  # what train text records in the model folder, its base model among it
_CELLS_PER_CHUNK = 1 << 24  # queries x texts scored at once: 64 MiB of float32


class TextSearcher:
    """Exact search over ``texts`` (kept as given; row ids are their positions) by one of :data:`SCORERS`."""

    def __init__(
        self,
        texts: Sequence[str],
        *,
        encoder: SentenceTransformer | None = None,
        embeddings: np.ndarray | None = None,
        scorer: str = "hybrid",
        normalization: str = NORMALIZATION,
        fit_texts: Sequence[str] | None = None,
        lexical: CharNgramTfidf | None = None,
        fusion: str = FUSION,
        weight: float = WEIGHT,
        rrf_k: int = RRF_K,
        candidates: int = CANDIDATES,
        batch_size: int = 64,
    ) -> None:
        _check(scorer, SCORERS, "scorer")
        _check(fusion, FUSIONS, "fusion")
        self.texts = list(texts)
        self.normalization = normalization
        self._normalize = normalizer(normalization)
        self.encoder = encoder
        self.scorer = scorer
        self.fusion, self.weight, self.rrf_k, self.candidates = fusion, weight, rrf_k, candidates
        self.batch_size = batch_size
        self._normalized = [self._normalize(t) for t in self.texts]
        self.lexical = lexical or CharNgramTfidf(LexicalConfig(normalization=normalization)).fit(
            list(fit_texts) if fit_texts is not None else self.texts
        )
        self._lexical_rows = self.lexical.transform(self.texts)
        if embeddings is not None:
            embeddings = np.asarray(embeddings, dtype=np.float32)
            if embeddings.shape[0] != len(self.texts):
                raise ValueError(f"{embeddings.shape[0]} embeddings for {len(self.texts)} texts")
            self.embeddings = _unit(embeddings)
        elif encoder is not None:
            self.embeddings = self.encode(self.texts)
        else:
            self.embeddings = None

    @property
    def scorers(self) -> tuple[str, ...]:
        """The scorers this searcher can run (dense and hybrid need embeddings)."""
        return SCORERS if self.embeddings is not None else ("lexical",)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings of ``texts`` (normalised first, as the texts were)."""
        if self.encoder is None:
            raise UserError("Dense search needs an encoder (or query_embeddings) for the queries.")
        vectors = self.encoder.encode(
            [self._normalize(t) for t in texts],
            batch_size=self.batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _unit(np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1))

    def scores(
        self, queries: Sequence[str], *, scorer: str | None = None, query_embeddings: np.ndarray | None = None
    ) -> np.ndarray:
        """The (queries x texts) score matrix of ``scorer``: higher is better. For few texts (evaluation)."""
        scorer = scorer or self.scorer
        _check(scorer, SCORERS, "scorer")
        if scorer != "lexical" and self.embeddings is None:
            raise UserError(f"The {scorer} scorer needs an encoder or embeddings of the texts; only lexical is ready.")
        lexical = dense = None
        if scorer in ("lexical", "hybrid"):
            lexical = np.asarray((self.lexical.transform(list(queries)) @ self._lexical_rows.T).todense(), np.float32)
        if scorer in ("dense", "hybrid"):
            q = _unit(np.asarray(query_embeddings, np.float32)) if query_embeddings is not None else None
            dense = (q if q is not None else self.encode(queries)) @ self.embeddings.T
        if scorer == "lexical":
            return lexical
        if scorer == "dense":
            return dense
        return self.fuse(dense, lexical)

    def fuse(self, dense: np.ndarray, lexical: np.ndarray) -> np.ndarray:
        """Hybrid scores from the two score matrices (queries x texts, or x the same candidate rows of both),
        by this searcher's fusion."""
        return fuse(
            dense, lexical, fusion=self.fusion, weight=self.weight, rrf_k=self.rrf_k, candidates=self.candidates
        )

    def search(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        scorer: str | None = None,
        query_embeddings: np.ndarray | None = None,
    ) -> list[list[tuple[int, float]]]:
        """The ``k`` best texts of each query as ``(row, score)``, best first (ties: lower row first)."""
        queries = list(queries)
        k = min(k, len(self.texts))
        out: list[list[tuple[int, float]]] = []
        if k <= 0:
            return [[] for _ in queries]
        step = max(1, _CELLS_PER_CHUNK // max(len(self.texts), 1))
        for start in range(0, len(queries), step):
            chunk_embeddings = None if query_embeddings is None else query_embeddings[start : start + step]
            sims = self.scores(queries[start : start + step], scorer=scorer, query_embeddings=chunk_embeddings)
            for row in sims:
                top = top_k(row, k)
                out.append([(int(i), float(row[i])) for i in top])
        return out


def model_base(model_dir: str | None) -> str:
    """What ``train text`` recorded of an acgvoc2vec folder's base: ``pretrained`` (fine-tuned from one),
    ``scratch``, ``unrecorded`` (no readable ``training_args.json`` naming a base) or ``none`` (no model)."""
    if not model_dir:
        return "none"
    try:
        with open(os.path.join(model_dir, TRAINING_ARGS), encoding="utf-8") as fh:
            recorded = json.load(fh).get("acg2vec") or {}
    except (OSError, ValueError, AttributeError):
        return "unrecorded"
    if not isinstance(recorded, dict) or "base_model" not in recorded:
        return "unrecorded"
    return "scratch" if is_scratch(recorded["base_model"]) else "pretrained"


def default_scorer(model_dir: str | None) -> str:
    """The scorer ``eval texts`` reports as the model's and ``serve``'s work search answers with when a request
    names none: :data:`DEFAULT_SCORER` of :func:`model_base` (dense for a fine-tuned pretrained model, hybrid for
    a from-scratch or unrecorded one, lexical without a model)."""
    return DEFAULT_SCORER[model_base(model_dir)]


def fuse(
    dense: np.ndarray,
    lexical: np.ndarray,
    *,
    fusion: str = FUSION,
    weight: float = WEIGHT,
    rrf_k: int = RRF_K,
    candidates: int = CANDIDATES,
) -> np.ndarray:
    """The hybrid score matrix of a dense and a lexical score matrix of the same shape (higher is better)."""
    _check(fusion, FUSIONS, "fusion")
    if fusion == "weighted":
        return weight * dense + (1.0 - weight) * lexical
    return rrf_scores([dense, lexical], k=rrf_k, candidates=candidates)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first, ties broken by the lower index."""
    k = min(k, scores.shape[-1])
    part = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[-1] else np.arange(scores.shape[-1])
    return part[np.lexsort((part, -scores[part]))]


def rrf_scores(score_matrices: list[np.ndarray], *, k: int = RRF_K, candidates: int = CANDIDATES) -> np.ndarray:
    """Reciprocal-rank fusion: each matrix adds ``1 / (k + rank)`` (rank from 1) to its top ``candidates`` per row."""
    fused = np.zeros_like(score_matrices[0], dtype=np.float32)
    rows = np.arange(fused.shape[0])[:, None]
    for scores in score_matrices:
        n = min(candidates, scores.shape[1])
        order = np.argsort(-scores, axis=1, kind="stable")[:, :n]
        fused[rows, order] += 1.0 / (k + np.arange(1, n + 1, dtype=np.float32))
    return fused


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise UserError(f"Unknown {what} {value!r}; choose one of {', '.join(allowed)}.")
