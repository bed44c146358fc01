"""Held-out evaluation: translation accuracy (ja->zh, zh->ja, ja->en) and retrieval metrics on the validation split.

The same eval sets are scored three ways: by the sentence-transformers evaluators (the untrained model, and the
model while and after training) and by :func:`score_similarities` for the lexical baseline, which computes the
same metrics from a similarity matrix. Metric names are shared: ``translation_ja-zh_mean_accuracy``,
``ir_accuracy@1``, ``ir_recall@10``, ``ir_mrr@10``, ``ir_ndcg@10``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

DIRECTIONS = (("ja", "zh"), ("zh", "ja"), ("ja", "en"))
IR_METRICS = ("accuracy@1", "recall@10", "mrr@10", "ndcg@10")


@dataclass(slots=True)
class TranslationSet:
    """Source/target sentence pairs, one-to-one (no source or target twice), for one language direction."""

    direction: str  # "ja-zh"
    sources: list[str]
    targets: list[str]


@dataclass(slots=True)
class RetrievalSet:
    """Anchors as queries; every distinct positive as the corpus; an anchor's positives are its relevant docs."""

    queries: dict[str, str] = field(default_factory=dict)
    corpus: dict[str, str] = field(default_factory=dict)
    relevant: dict[str, set[str]] = field(default_factory=dict)


@dataclass(slots=True)
class EvalSets:
    translation: list[TranslationSet]
    retrieval: RetrievalSet

    def summary(self) -> dict[str, int]:
        out = {f"translation_{t.direction}_pairs": len(t.sources) for t in self.translation}
        out["ir_queries"] = len(self.retrieval.queries)
        out["ir_corpus"] = len(self.retrieval.corpus)
        return out


def translation_sets(ds: Dataset, *, max_pairs: int) -> list[TranslationSet]:
    """Pairs whose languages match a direction, read either way round (a zh->ja row is also a ja->zh pair)."""
    rows = ds.select_columns(["anchor", "positive", "anchor_lang", "positive_lang"]).to_list()
    out = []
    for src_lang, tgt_lang in DIRECTIONS:
        sources, targets, seen_src, seen_tgt = [], [], set(), set()
        for row in rows:
            if (row["anchor_lang"], row["positive_lang"]) == (src_lang, tgt_lang):
                src, tgt = row["anchor"], row["positive"]
            elif (row["anchor_lang"], row["positive_lang"]) == (tgt_lang, src_lang):
                src, tgt = row["positive"], row["anchor"]
            else:
                continue
            # One-to-one: a source with two right answers would count one of them as a miss.
            if src in seen_src or tgt in seen_tgt:
                continue
            seen_src.add(src)
            seen_tgt.add(tgt)
            sources.append(src)
            targets.append(tgt)
            if len(sources) >= max_pairs:
                break
        if len(sources) >= 2:
            out.append(TranslationSet(f"{src_lang}-{tgt_lang}", sources, targets))
    return out


def retrieval_set(ds: Dataset, *, max_queries: int) -> RetrievalSet:
    rows = ds.select_columns(["anchor", "positive"]).to_list()
    rs = RetrievalSet()
    doc_ids: dict[str, str] = {}
    query_ids: dict[str, str] = {}
    for row in rows:
        doc_id = doc_ids.setdefault(row["positive"], f"d{len(doc_ids)}")
        rs.corpus[doc_id] = row["positive"]
        if row["anchor"] not in query_ids:
            if len(query_ids) >= max_queries:
                continue
            query_ids[row["anchor"]] = f"q{len(query_ids)}"
        qid = query_ids[row["anchor"]]
        rs.queries[qid] = row["anchor"]
        rs.relevant.setdefault(qid, set()).add(doc_id)
    return rs


def build_eval_sets(ds: Dataset, *, max_pairs: int = 1000, max_queries: int = 1000) -> EvalSets:
    return EvalSets(translation_sets(ds, max_pairs=max_pairs), retrieval_set(ds, max_queries=max_queries))


def make_evaluator(sets: EvalSets, *, batch_size: int = 64):
    """A SequentialEvaluator of the translation evaluators and the retrieval evaluator."""
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
        SequentialEvaluator,
        TranslationEvaluator,
    )

    evaluators = [
        TranslationEvaluator(
            t.sources, t.targets, name=f"translation_{t.direction}", batch_size=batch_size, write_csv=False
        )
        for t in sets.translation
    ]
    evaluators.append(
        InformationRetrievalEvaluator(
            sets.retrieval.queries,
            sets.retrieval.corpus,
            sets.retrieval.relevant,
            name="ir",
            accuracy_at_k=[1, 10],
            precision_recall_at_k=[10],
            mrr_at_k=[10],
            ndcg_at_k=[10],
            map_at_k=[10],
            batch_size=batch_size,
            write_csv=False,
            score_functions={"cosine": _cos_sim()},
        )
    )
    # The last metric names the checkpoint that scores best; retrieval MRR covers every pair type.
    return SequentialEvaluator(evaluators, main_score_function=lambda scores: scores[-1])


def _cos_sim():
    from sentence_transformers.util import cos_sim

    return cos_sim


def tidy_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The evaluators' metrics under the shared names (no ``eval_`` prefix, no score-function name)."""
    out = {}
    for key, value in metrics.items():
        name = key.removeprefix("eval_").replace("_cosine_", "_")
        is_translation = name.startswith("translation_") and name.endswith("_accuracy")
        if is_translation or name in {f"ir_{m}" for m in IR_METRICS}:
            out[name] = float(value)
    return dict(sorted(out.items()))


def evaluate_model(model: SentenceTransformer, sets: EvalSets, *, batch_size: int = 64) -> dict[str, float]:
    return tidy_metrics(make_evaluator(sets, batch_size=batch_size)(model))


def translation_scores(sim: np.ndarray, sources: list[str], targets: list[str]) -> dict[str, float]:
    """Accuracy both ways from a (sources x targets) similarity matrix, as TranslationEvaluator counts it."""
    src2trg = np.mean([targets[int(np.argmax(sim[i]))] == targets[i] for i in range(len(sources))])
    trg2src = np.mean([sources[int(np.argmax(sim[:, j]))] == sources[j] for j in range(len(targets))])
    return {
        "src2trg_accuracy": float(src2trg),
        "trg2src_accuracy": float(trg2src),
        "mean_accuracy": float((src2trg + trg2src) / 2),
    }


def retrieval_scores(
    sim: np.ndarray, query_ids: list[str], doc_ids: list[str], relevant: dict[str, set[str]]
) -> dict[str, float]:
    """accuracy@1, recall@10, MRR@10, NDCG@10 from a (queries x docs) similarity matrix (binary relevance)."""
    acc1, rec10, mrr10, ndcg10 = [], [], [], []
    for i, qid in enumerate(query_ids):
        # Stable sort on the negated scores: ties keep corpus order, like a top-k over the same scores.
        top = [doc_ids[j] for j in np.argsort(-sim[i], kind="stable")[:10]]
        rel = relevant[qid]
        hits = [doc in rel for doc in top]
        acc1.append(float(hits[0]))
        rec10.append(sum(hits) / len(rel))
        mrr10.append(next((1.0 / (rank + 1) for rank, hit in enumerate(hits) if hit), 0.0))
        dcg = sum(1.0 / math.log2(rank + 2) for rank, hit in enumerate(hits) if hit)
        idcg = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(rel), 10)))
        ndcg10.append(dcg / idcg)
    return {
        "ir_accuracy@1": float(np.mean(acc1)),
        "ir_recall@10": float(np.mean(rec10)),
        "ir_mrr@10": float(np.mean(mrr10)),
        "ir_ndcg@10": float(np.mean(ndcg10)),
    }


def score_similarities(sets: EvalSets, similarity) -> dict[str, float]:
    """All metrics for a scorer ``similarity(texts_a, texts_b) -> (len(a) x len(b)) array``."""
    out = {}
    for t in sets.translation:
        for key, value in translation_scores(similarity(t.sources, t.targets), t.sources, t.targets).items():
            out[f"translation_{t.direction}_{key}"] = value
    rs = sets.retrieval
    query_ids = [q for q in rs.queries if rs.relevant.get(q)]
    doc_ids = list(rs.corpus)
    sim = similarity([rs.queries[q] for q in query_ids], [rs.corpus[d] for d in doc_ids])
    out.update(retrieval_scores(sim, query_ids, doc_ids, rs.relevant))
    return dict(sorted(out.items()))
