"""Validation macro mAP (for early stopping), a NaN-loss stop with a clear message, and per-tag thresholds."""

from __future__ import annotations

import math

import keras
import numpy as np

MAP_KEY = "val_macro_map"


def macro_average_precision(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Mean over tags with at least one positive of the average precision (tags without positives are skipped)."""
    from sklearn.metrics import average_precision_score

    present = y_true.sum(axis=0) > 0
    if not present.any():
        return float("nan")
    return float(average_precision_score(y_true[:, present], y_score[:, present], average="macro"))


def frequency_baseline_map(train_counts: np.ndarray, train_size: int, y_true: np.ndarray) -> float:
    """Macro mAP of the baseline that scores every image with each tag's training frequency."""
    prior = np.asarray(train_counts, dtype=np.float64) / max(train_size, 1)
    return macro_average_precision(y_true, np.broadcast_to(prior, y_true.shape))


def tune_thresholds(y_true: np.ndarray, y_score: np.ndarray, names: list[str]) -> dict:
    """Per-tag thresholds maximising F1 on validation; ``default`` maximises micro F1 over all tags.

    A tag without validation positives keeps the default. Returns the thresholds.json contents.
    """
    grid = np.linspace(0.05, 0.95, 19)
    micro = [_f1(y_true.ravel(), y_score.ravel() >= t) for t in grid]
    default = float(grid[int(np.argmax(micro))])
    thresholds = {}
    for j, name in enumerate(names):
        if y_true[:, j].sum() == 0:
            thresholds[name] = default
            continue
        scores = [_f1(y_true[:, j], y_score[:, j] >= t) for t in grid]
        thresholds[name] = float(grid[int(np.argmax(scores))])
    return {"method": "max_f1_per_tag_on_validation", "default": default, "thresholds": thresholds}


def _f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    tp = float(np.sum(truth * predicted))
    denominator = float(np.sum(truth) + np.sum(predicted))
    return 2 * tp / denominator if denominator else 0.0


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
        value = macro_average_precision(y_true, y_score) if finite else float("nan")
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
