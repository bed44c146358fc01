"""Learning-rate schedule: linear warmup then cosine decay (Keras' CosineDecay with its warmup)."""

from __future__ import annotations


def warmup_cosine(peak_lr: float, *, total_steps: int, warmup_steps: int, final_fraction: float = 0.01):
    """Linear warmup from ~0 to ``peak_lr`` over ``warmup_steps``, then cosine decay to ``final_fraction`` of it."""
    import keras

    warmup_steps = max(0, min(warmup_steps, total_steps - 1))
    # Warm up from peak/100, not 0: a zero first step would waste the first batch.
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak_lr / 100 if warmup_steps else peak_lr,
        decay_steps=max(total_steps - warmup_steps, 1),
        alpha=final_fraction,
        warmup_target=peak_lr if warmup_steps else None,
        warmup_steps=warmup_steps,
    )
