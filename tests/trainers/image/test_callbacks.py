from __future__ import annotations

import keras
import numpy as np
import pytest

from acg2vec.trainers.image import callbacks as cb

pytestmark = pytest.mark.unit


def test_macro_map_perfect_random_and_baseline():
    y = np.array([[1, 0], [0, 1], [1, 0], [0, 0]], np.float32)
    assert cb.macro_average_precision(y, y * 0.9 + 0.05) == pytest.approx(1.0)
    # A constant score ranks nothing: its AP is the tag's prevalence, whatever the constant.
    baseline = cb.frequency_baseline_map(np.array([30, 5]), 40, y)
    assert baseline == pytest.approx((0.5 + 0.25) / 2)
    # Tags without positives are left out rather than counted as 0.
    with_empty = np.concatenate([y, np.zeros((4, 1), np.float32)], axis=1)
    assert cb.macro_average_precision(with_empty, np.concatenate([y, np.zeros((4, 1))], axis=1)) == pytest.approx(1.0)


def test_tune_thresholds_separates_each_tag_and_keeps_default_for_unseen_tags():
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], np.float32)
    scores = np.array([[0.8, 0.1, 0.3], [0.7, 0.35, 0.2], [0.2, 0.3, 0.1], [0.1, 0.05, 0.4]], np.float32)
    tuned = cb.tune_thresholds(y, scores, ["a", "b", "c"])
    assert set(tuned) == {"method", "default", "thresholds"}
    assert 0.2 < tuned["thresholds"]["a"] <= 0.7
    assert 0.1 < tuned["thresholds"]["b"] <= 0.3
    assert tuned["thresholds"]["c"] == tuned["default"]


def test_stop_on_nan_stops_fit_and_says_where():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 2), np.float32)
    x[4:] = np.nan
    stop = cb.StopOnNaN()
    history = model.fit(x, np.ones((8, 1)), batch_size=2, epochs=3, shuffle=False, callbacks=[stop], verbose=0)
    assert stop.where == "epoch 1, step 3"
    assert len(history.history["loss"]) == 1
