"""Training on a sample corpus must beat the untrained model clearly on held-out title translation."""

from __future__ import annotations

from pathlib import Path

import pytest

from acg2vec.trainers.text.train import train_text_model
from tests.trainers.text.tiny_corpus import tiny_config, write_tiny_corpus

DIRECTIONS = ("ja-zh", "zh-ja", "ja-en")


@pytest.mark.slow
@pytest.mark.integration
def test_training_beats_untrained_model_on_held_out_title_translation(workdir: Path) -> None:
    # 300 works, 30 of them held out: their titles are new combinations of words seen in training.
    write_tiny_corpus(workdir / "datasets", works=300)
    result = train_text_model(
        tiny_config(
            workdir / "datasets",
            workdir / "models" / "acgvoc2vec",
            max_steps=120,
            batch_size=32,
            learning_rate=1e-3,
            eval_steps=60,
            save_steps=1000,
            logging_steps=20,
        )
    )

    def title_accuracy(name: str) -> float:
        scores = [result.metrics[name][f"translation_{d}_mean_accuracy"] for d in DIRECTIONS]
        return sum(scores) / len(scores)

    lexical, untrained, trained = (title_accuracy(n) for n in ("lexical", "untrained", "trained"))
    print(
        f"held-out title translation accuracy: lexical {lexical:.3f}, untrained {untrained:.3f}, trained {trained:.3f}"
    )
    assert result.eval_sets["translation_ja-en_pairs"] == 30
    assert trained >= untrained + 0.3
    # The katakana words and English titles share no characters with their translations: the baseline misses them.
    assert trained > lexical
    assert result.metrics["trained"]["ir_mrr@10"] > result.metrics["untrained"]["ir_mrr@10"]
