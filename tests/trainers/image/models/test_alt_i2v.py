"""alt_i2v loads local VGG16 weights and never downloads."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.trainers.image.models import registry
from tests.trainers.image.models.tiny import IMAGES

pytestmark = pytest.mark.unit


def test_alt_i2v_loads_local_vgg16_weights_and_never_downloads(tmp_path):
    donor = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = str(tmp_path / "vgg16_notop.weights.h5")
    donor.save_weights(path)
    model = registry.make_model("alt_i2v", image_size=32, num_tags=3, weights=path, hidden=8)
    backbone = model.get_layer("vgg16")
    np.testing.assert_array_equal(
        backbone.get_layer("block1_conv1").get_weights()[0], donor.get_layer("block1_conv1").get_weights()[0]
    )
    out = model(IMAGES).numpy()
    assert out.shape == (2, 3)
    assert model.get_layer("dropout").rate == pytest.approx(0.3)
    with pytest.raises(UserError, match="does not exist"):
        registry.make_model("alt_i2v", image_size=32, num_tags=3, weights=str(tmp_path / "nope.h5"))
