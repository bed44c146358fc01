"""The learning-rate schedule: linear warm-up, then cosine decay."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.trainers.image.schedules import warmup_cosine


@pytest.mark.unit
def test_warmup_then_cosine_decay():
    schedule = warmup_cosine(1e-2, total_steps=100, warmup_steps=10, final_fraction=0.01)
    lrs = np.array([float(schedule(step)) for step in range(100)])
    assert lrs[0] == pytest.approx(1e-4, rel=1e-3)  # starts at peak / 100, not at 0
    assert np.all(np.diff(lrs[:11]) > 0) and lrs[10] == pytest.approx(1e-2, rel=1e-3)
    assert np.all(np.diff(lrs[10:]) <= 1e-9) and lrs[-1] == pytest.approx(1e-4, rel=0.05)
    # No warmup: the decay starts at the peak.
    assert float(warmup_cosine(1e-3, total_steps=10, warmup_steps=0)(0)) == pytest.approx(1e-3)
