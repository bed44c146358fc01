"""illust2vec is the pooled deepix encoder."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.trainers.image.models import illust2vec
from tests.trainers.image.models.tiny import IMAGES, tiny_deepix

pytestmark = pytest.mark.unit


def test_illust2vec_is_the_pooled_deepix_encoder():
    model = tiny_deepix(1e-5)
    embedder = illust2vec.from_deepix(model)
    vectors = embedder(IMAGES).numpy()
    features = model.get_layer("encoder")(IMAGES).numpy()
    np.testing.assert_allclose(vectors, features.mean(axis=(1, 2)), rtol=1e-4, atol=1e-6)
