"""Validation macro mAP (for early stopping) and a NaN-loss stop with a clear message; the metrics themselves are
:mod:`acg2vec.trainers.image.metrics`."""

from __future__ import annotations

import math

import keras
import numpy as np

from acg2vec.trainers.image.metrics import macro_map

MAP_KEY = "val_macro_map"


def collect_predictions(model, dataset, *, output: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over a finite (images, targets) dataset; returns (tag truth, tag scores) as arrays."""
    truths, scores = [], []
    for batch in dataset:
        images, targets = batch[0], batch[1]
        predictions = model(images, training=False)
        if output is not None:
            predictions, targets = predictions[output], targets[output]
        truths.append(np.asarray(targets))
        scores.append(np.asarray(predictions, dtype=np.float32))
    if not truths:
        return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
    return np.concatenate(truths), np.concatenate(scores)


class MacroMAP(keras.callbacks.Callback):
    """Adds ``val_macro_map`` to the epoch logs, so EarlyStopping / ModelCheckpoint / TensorBoard can use it.

    Must come before those callbacks in the list: they read the same logs dict after it.
    """

    def __init__(self, dataset, *, output: str | None = None) -> None:
        super().__init__()
        self.dataset = dataset
        self.output = output
        self.history: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        y_true, y_score = collect_predictions(self.model, self.dataset, output=self.output)
        # Diverged weights (StopOnNaN stops the run and says so) predict NaN: there is nothing to score.
        finite = len(y_true) and np.isfinite(y_score).all()
        value = macro_map(y_true, y_score) if finite else float("nan")
        self.history.append(value)
        if logs is not None:
            logs[MAP_KEY] = value


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first NaN / inf loss and remembers where, so the trainer can say so plainly."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self.where: str | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.where = f"epoch {self.epoch + 1}, step {batch + 1}"
            self.model.stop_training = True
