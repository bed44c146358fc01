"""Tag losses: binary cross-entropy (mean or sum over tags), asymmetric loss, optional frequency weighting.

Each returns a Keras-compatible ``loss(y_true, y_pred)`` giving one value per example, so Keras handles the
batch reduction and the distribution strategy's scaling.
"""

from __future__ import annotations

from collections.abc import Sequence

EPS = 1e-7


def frequency_weights(counts: Sequence[int], *, power: float = 0.5) -> list[float]:
    """Per-tag weights ``(max_count / count) ** power``, rescaled to mean 1 (rare tags weigh more)."""
    top = max(max(counts), 1)
    raw = [(top / max(c, 1)) ** power for c in counts]
    mean = sum(raw) / len(raw)
    return [w / mean for w in raw]


def make_tag_loss(
    kind: str = "bce", *, reduction: str = "mean", tag_weights: Sequence[float] | None = None, **options
):
    """``kind``: "bce" or "asl" (asymmetric loss; options gamma_neg, gamma_pos, clip). ``reduction``: over tags."""
    import tensorflow as tf

    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    weights = None if tag_weights is None else tf.constant(list(tag_weights), tf.float32)
    if kind == "bce":
        per_tag = _bce
    elif kind == "asl":
        gamma_neg = float(options.get("gamma_neg", 4.0))
        gamma_pos = float(options.get("gamma_pos", 0.0))
        clip = float(options.get("clip", 0.05))

        def per_tag(y_true, y_pred):
            return _asymmetric(y_true, y_pred, gamma_neg=gamma_neg, gamma_pos=gamma_pos, clip=clip)
    else:
        raise ValueError(f"unknown loss {kind!r}; choose 'bce' or 'asl'")

    def loss(y_true, y_pred):
        # float32 even under mixed precision: log(p) of float16 probabilities loses the rare tags.
        values = per_tag(tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32))
        if weights is not None:
            values = values * weights
        return tf.reduce_mean(values, axis=-1) if reduction == "mean" else tf.reduce_sum(values, axis=-1)

    loss.__name__ = f"{kind}_{reduction}" + ("_weighted" if weights is not None else "")
    return loss


def _bce(y_true, y_pred):
    import tensorflow as tf

    p = tf.clip_by_value(y_pred, EPS, 1 - EPS)
    return -(y_true * tf.math.log(p) + (1 - y_true) * tf.math.log(1 - p))


def _asymmetric(y_true, y_pred, *, gamma_neg: float, gamma_pos: float, clip: float):
    """Asymmetric loss (Ridnik et al. 2021): focusing on negatives plus a probability margin that drops easy ones."""
    import tensorflow as tf

    p = tf.clip_by_value(y_pred, EPS, 1 - EPS)
    p_neg = tf.maximum(p - clip, 0.0) if clip > 0 else p
    pos = y_true * tf.pow(1 - p, gamma_pos) * tf.math.log(p)
    neg = (1 - y_true) * tf.pow(p_neg, gamma_neg) * tf.math.log(tf.clip_by_value(1 - p_neg, EPS, 1.0))
    return -(pos + neg)


def masked_log_mse(y_true, y_pred):
    """Squared error on log1p targets, ignoring targets < 0 (unknown); 0 for an example with none known."""
    import tensorflow as tf

    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.cast(y_pred, tf.float32)
    mask = tf.cast(y_true >= 0, tf.float32)
    target = tf.math.log1p(tf.maximum(y_true, 0.0))
    return tf.reduce_sum(mask * tf.square(target - y_pred), axis=-1) / tf.maximum(tf.reduce_sum(mask, axis=-1), 1.0)
