from __future__ import annotations

import keras
import numpy as np
import pytest

from acg2vec.trainers.image import callbacks as cb

pytestmark = pytest.mark.unit


def test_stop_on_nan_stops_fit_and_says_where():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 2), np.float32)
    x[4:] = np.nan
    stop = cb.StopOnNaN()
    history = model.fit(x, np.ones((8, 1)), batch_size=2, epochs=3, shuffle=False, callbacks=[stop], verbose=0)
    assert stop.where == "epoch 1, step 3"
    assert len(history.history["loss"]) == 1
