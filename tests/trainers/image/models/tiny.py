"""Tiny inputs and models shared by the model tests."""

from __future__ import annotations

import numpy as np

from acg2vec.trainers.image.models import deepix
from tests.trainers.image.conftest import TINY_DEEPDANBOORU

IMAGES = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")


def tiny_deepix(encoder_lr: float):
    """A deepix on a 1/32-width DeepDanbooru cut at activation_6, 3 tags."""
    return deepix.make_model(
        (32, 32, 3),
        3,
        encoder_layer="activation_6",
        head_filters=8,
        encoder_learning_rate=encoder_lr,
        **TINY_DEEPDANBOORU,
    )
