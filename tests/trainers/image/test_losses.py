from __future__ import annotations

import keras
import numpy as np
import pytest

from acg2vec.trainers.image import losses

pytestmark = pytest.mark.unit

Y = np.array([[1, 0, 0, 1], [0, 1, 0, 0]], np.float32)
P = np.array([[0.9, 0.2, 0.1, 0.6], [0.3, 0.7, 0.05, 0.4]], np.float32)


def test_bce_mean_matches_keras_and_sum_is_mean_times_tags():
    mean = losses.make_tag_loss("bce", reduction="mean")(Y, P).numpy()
    total = losses.make_tag_loss("bce", reduction="sum")(Y, P).numpy()
    reference = keras.losses.binary_crossentropy(Y, P).numpy()
    np.testing.assert_allclose(mean, reference, rtol=1e-5)
    np.testing.assert_allclose(total, mean * Y.shape[1], rtol=1e-5)


def test_asymmetric_loss_reduces_to_bce_without_focusing_and_down_weights_easy_negatives():
    plain = losses.make_tag_loss("asl", gamma_neg=0, gamma_pos=0, clip=0)(Y, P).numpy()
    np.testing.assert_allclose(plain, losses.make_tag_loss("bce")(Y, P).numpy(), rtol=1e-5)
    focused = losses.make_tag_loss("asl")(Y, P).numpy()
    assert (focused < plain).all()


def test_frequency_weights_favour_rare_tags_with_mean_one():
    weights = losses.frequency_weights([1000, 100, 10], power=0.5)
    assert weights[0] < weights[1] < weights[2]
    assert abs(np.mean(weights) - 1.0) < 1e-9
    weighted = losses.make_tag_loss("bce", tag_weights=[1, 0, 0, 0])(Y, P).numpy()
    np.testing.assert_allclose(weighted, -np.log(np.array([0.9, 0.7])) / 4, rtol=1e-5)


def test_masked_log_mse_ignores_unknown_targets():
    y_true = np.array([[10.0, -1.0, -1.0], [-1.0, -1.0, -1.0]], np.float32)
    y_pred = np.array([[np.log1p(10.0), 99.0, -99.0], [5.0, 5.0, 5.0]], np.float32)
    np.testing.assert_allclose(losses.masked_log_mse(y_true, y_pred).numpy(), [0.0, 0.0], atol=1e-5)
    y_pred[0, 0] = 0.0
    assert losses.masked_log_mse(y_true, y_pred).numpy()[0] == pytest.approx(np.log1p(10.0) ** 2, rel=1e-5)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError):
        losses.make_tag_loss("hinge")
