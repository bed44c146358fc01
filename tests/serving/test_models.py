"""The served text model: acgvoc2vec folders with acg2vec's normalising input module load without remote code."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.serving.models import TextModel

pytestmark = pytest.mark.integration

TEXTS = ["鋼の錬金術師", "钢之炼金术师", "涼宮ハルヒの憂鬱", "凉宫春日的忧郁", "Magic Knight"] * 3


def test_an_acgvoc2vec_folder_with_its_input_module_is_served(tmp_path):
    from acg2vec.trainers.text.base_model import SmallModelConfig, build_small_model

    config = SmallModelConfig(vocab_size=200, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    build_small_model(TEXTS, out_dir=tmp_path / "base", config=config).save(str(tmp_path / "acgvoc2vec"))
    model = TextModel(str(tmp_path / "acgvoc2vec"))
    encoded = model.encode(["鋼の錬金術師", "钢の炼金术师", "Magic Knight " * 2000])
    assert encoded.vectors.shape == (3, 32)
    assert np.linalg.norm(encoded.vectors, axis=1) == pytest.approx(np.ones(3), abs=1e-5)
    # The folder's own normalisation runs first: the Japanese and Simplified forms are one input.
    np.testing.assert_allclose(encoded.vectors[0], encoded.vectors[1], atol=1e-6)
    assert encoded.truncated == [False, False, True] and encoded.max_tokens == model.max_tokens


def test_a_folder_without_a_text_model_is_one_sentence(tmp_path):
    with pytest.raises(UserError, match="no sentence-transformers model at"):
        TextModel(str(tmp_path))
