"""deepix: heads, its cut layer, encoder and head learning rates, the full-size cut."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.trainers.image.models import deepix
from tests.trainers.image.conftest import TINY_DEEPDANBOORU
from tests.trainers.image.models.tiny import IMAGES, tiny_deepix

pytestmark = pytest.mark.unit


def test_deepix_heads_and_missing_cut_layer():
    model = tiny_deepix(1e-5)
    out = model(IMAGES)
    assert {k: tuple(v.shape) for k, v in out.items()} == {"tags": (2, 3), "rating": (2, 4), "popularity": (2, 3)}
    np.testing.assert_allclose(out["rating"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(UserError, match="no layer 'activation_96'"):
        deepix.make_model((32, 32, 3), 3, **TINY_DEEPDANBOORU)


def test_deepix_encoder_and_heads_learn_at_their_own_rates():
    from acg2vec.trainers.image import losses

    model = tiny_deepix(0.0)  # a frozen-by-learning-rate encoder
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss={
            "tags": losses.make_tag_loss("bce"),
            "rating": keras.losses.SparseCategoricalCrossentropy(),
            "popularity": losses.masked_log_mse,
        },
    )
    encoder = [v.numpy().copy() for v in model.get_layer("encoder").trainable_variables]
    heads = [v.numpy().copy() for v in model.get_layer("tags_head").trainable_variables]
    y = {
        "tags": np.array([[1, 0, 1], [0, 1, 0]], np.float32),
        "rating": np.array([0, 2]),
        "popularity": np.array([[5, -1, -1], [7, 100, 3]], np.float32),
    }
    history = model.fit(IMAGES, y, epochs=2, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and "tags_loss" in history.history
    for before, var in zip(encoder, model.get_layer("encoder").trainable_variables, strict=True):
        np.testing.assert_array_equal(before, var.numpy())
    assert any(
        not np.array_equal(b, v.numpy())
        for b, v in zip(heads, model.get_layer("tags_head").trainable_variables, strict=True)
    )


def test_full_size_deepix_cut_gives_the_1024_d_illust2vec():
    """The default cut of the full DeepDanbooru v3 network (activation_96) is 1,024 channels: illust2vec's size."""
    encoder = deepix.make_encoder((64, 64, 3), layer=deepix.DEFAULT_ENCODER_LAYER, version="v3")
    assert deepix.DEFAULT_ENCODER_LAYER == "activation_96"
    assert encoder.output.shape[-1] == 1024
