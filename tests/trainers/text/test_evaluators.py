"""Held-out eval sets, metrics from similarity matrices (checked against the library's evaluators), losses."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.trainers.text.evaluators import (
    build_eval_sets,
    evaluate_model,
    retrieval_scores,
    score_similarities,
    translation_scores,
    translation_sets,
)
from acg2vec.trainers.text.lexical_baseline import CharNgramTfidf, lexical_baseline_metrics

pytestmark = pytest.mark.unit


def _rows(rows: list[tuple[str, str, str, str]]):
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "anchor": [r[0] for r in rows],
            "positive": [r[1] for r in rows],
            "anchor_lang": [r[2] for r in rows],
            "positive_lang": [r[3] for r in rows],
        }
    )


def test_translation_sets_read_languages_both_ways_one_to_one() -> None:
    ds = _rows(
        [
            ("星の海", "星的大海", "ja", "zh"),
            ("猫的夜晚", "猫の夜", "zh", "ja"),  # a zh->ja row is also a ja->zh pair
            ("星の海", "星海", "ja", "zh"),  # the same source again: left out (two right answers)
            ("星の海", "Sea of Star", "ja", "en"),
            ("猫の夜", "ネコ", "ja", "ja"),  # same language: no direction
        ]
    )
    sets = {t.direction: t for t in translation_sets(ds, max_pairs=10)}
    assert sets["ja-zh"].sources == ["星の海", "猫の夜"]
    assert sets["ja-zh"].targets == ["星的大海", "猫的夜晚"]
    assert sets["zh-ja"].sources == ["星的大海", "猫的夜晚"]
    assert "ja-en" not in sets  # one pair cannot rank anything


def test_retrieval_scores_match_hand_computed_ranks() -> None:
    # Query a's relevant doc ranks 2nd; query b has two relevant docs, at ranks 1 and 3.
    sim = np.array([[0.9, 0.8, 0.1], [0.7, 0.1, 0.6]])
    scores = retrieval_scores(sim, ["a", "b"], ["d0", "d1", "d2"], {"a": {"d1"}, "b": {"d0", "d1"}})
    assert scores["ir_accuracy@1"] == 0.5
    assert scores["ir_recall@10"] == 1.0
    assert scores["ir_mrr@10"] == pytest.approx((1 / 2 + 1) / 2)
    ndcg_a = (1 / math.log2(3)) / 1
    ndcg_b = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert scores["ir_ndcg@10"] == pytest.approx((ndcg_a + ndcg_b) / 2)


def test_translation_scores_count_both_directions() -> None:
    sim = np.array([[0.9, 0.1, 0.0], [0.8, 0.7, 0.1], [0.0, 0.2, 0.9]])
    scores = translation_scores(sim, ["a", "b", "c"], ["x", "y", "z"])
    assert scores["src2trg_accuracy"] == pytest.approx(2 / 3)  # b -> x is wrong
    assert scores["trg2src_accuracy"] == pytest.approx(1.0)
    assert scores["mean_accuracy"] == pytest.approx(5 / 6)


def test_similarity_metrics_agree_with_the_library_evaluators(tmp_path: Path, tiny_corpus: Path) -> None:
    """The lexical baseline is scored by score_similarities; the encoders by the library: same numbers on same vectors."""
    from acg2vec.trainers.text.base_model import SmallModelConfig, build_small_model
    from acg2vec.trainers.text.data import corpus_texts, load_pairs

    corpus = load_pairs(tiny_corpus, cache_dir=tmp_path / "cache")
    sets = build_eval_sets(corpus.splits["validation"])
    model = build_small_model(
        corpus_texts(corpus.splits["train"]),
        out_dir=tmp_path / "m",
        config=SmallModelConfig(vocab_size=600, hidden_size=32, num_heads=2, intermediate_size=64),
    )

    def cosine(a: list[str], b: list[str]) -> np.ndarray:
        ea = model.encode(a, normalize_embeddings=True)
        eb = model.encode(b, normalize_embeddings=True)
        return ea @ eb.T

    ours = score_similarities(sets, cosine)
    library = evaluate_model(model, sets)
    assert set(library) <= set(ours)
    for key, value in library.items():
        assert ours[key] == pytest.approx(value, abs=1e-6), key


def test_lexical_baseline_matches_shared_characters_not_translations(tmp_path: Path, tiny_corpus: Path) -> None:
    from acg2vec.trainers.text.data import corpus_texts, load_pairs

    corpus = load_pairs(tiny_corpus, cache_dir=tmp_path / "cache")
    sets = build_eval_sets(corpus.splits["validation"])
    metrics = lexical_baseline_metrics(corpus_texts(corpus.splits["train"]), sets)
    # ja and zh titles share Han characters; Japanese and English share none.
    assert metrics["translation_ja-zh_mean_accuracy"] > metrics["translation_ja-en_mean_accuracy"]
    tfidf = CharNgramTfidf().fit(["魔法の騎士", "Magic Knight"])
    sim = tfidf.similarity(["魔法の騎士", "Magic Knight"], ["魔法の騎士", "Magic Knight"])
    # Only the word-boundary padding n-gram is shared between scripts.
    assert sim[0, 0] == pytest.approx(1.0) and sim[0, 1] < 0.1


def test_losses_by_name_and_their_user_errors(tmp_path: Path) -> None:
    from sentence_transformers.sentence_transformer import losses

    from acg2vec.trainers.text.base_model import SmallModelConfig, build_small_model
    from acg2vec.trainers.text.losses import make_loss

    model = build_small_model(
        ["星の海", "星的大海", "Sea of Star"] * 3,
        out_dir=tmp_path / "m",
        config=SmallModelConfig(vocab_size=100, hidden_size=32, num_heads=2, intermediate_size=64),
    )
    assert type(make_loss("mnrl", model)) is losses.MultipleNegativesRankingLoss
    cached = make_loss("cached-mnrl", model, mini_batch_size=4)
    assert isinstance(cached, losses.CachedMultipleNegativesRankingLoss) and cached.mini_batch_size == 4
    symmetric = make_loss("symmetric-mnrl", model)
    assert type(symmetric) is losses.MultipleNegativesRankingLoss
    assert symmetric.directions == ("query_to_doc", "doc_to_query") and symmetric.partition_mode == "per_direction"
    assert type(make_loss("gist", model, guide=model)) is losses.GISTEmbedLoss
    wrapped = make_loss("mnrl", model, matryoshka_dims=(16, 32))
    assert isinstance(wrapped, losses.MatryoshkaLoss) and list(wrapped.matryoshka_dims) == [32, 16]
    with pytest.raises(UserError, match="guide model"):
        make_loss("gist", model)
    with pytest.raises(UserError, match="Matryoshka"):
        make_loss("mnrl", model, matryoshka_dims=(64,))
    with pytest.raises(UserError, match="Unknown loss"):
        make_loss("triplet", model)
