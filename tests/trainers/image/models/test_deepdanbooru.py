"""DeepDanbooru: every version ends in a per-tag conv and sigmoid; a saved model file is a starting point."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.trainers.image.models import deepdanbooru, registry
from tests.trainers.image.conftest import TINY_DEEPDANBOORU
from tests.trainers.image.models.tiny import IMAGES

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("version", ["v1", "v2", "v3", "v4"])
def test_deepdanbooru_versions_end_in_a_conv_per_tag_and_sigmoid(version):
    model = deepdanbooru.make_model((32, 32, 3), 5, version=version, width=1 / 32, depth=0.05)
    out = model(IMAGES).numpy()
    assert out.shape == (2, 5) and ((out > 0) & (out < 1)).all()
    repeats = [max(round(r * 0.05), 1) for r in deepdanbooru.VERSIONS[version][1]]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs[-1].name == deepdanbooru.HEAD_CONV and convs[-1].filters == 5
    # stem + 3 per block (projection block + repeats per stage), named like a fresh Keras 2 session
    names = [layer.name for layer in model.layers if layer.name.startswith("activation")]
    assert names[:2] == ["activation", "activation_1"] and len(names) == 1 + sum(3 * (1 + r) for r in repeats)


def test_deepdanbooru_model_file_is_a_starting_point(tmp_path):
    model = deepdanbooru.make_model((32, 32, 3), 4, **TINY_DEEPDANBOORU)
    path = str(tmp_path / "model-resnet_custom_v4.h5")
    model.save(path)
    same = registry.make_model("deepdanbooru", image_size=32, num_tags=4, init_from=path)
    np.testing.assert_allclose(same(IMAGES).numpy(), model(IMAGES).numpy(), atol=1e-5)
    retagged = registry.make_model("deepdanbooru", image_size=32, num_tags=7, init_from=path)
    assert retagged(IMAGES).shape == (2, 7)
    np.testing.assert_array_equal(
        retagged.get_layer("conv2d_3").get_weights()[0], model.get_layer("conv2d_3").get_weights()[0]
    )
    with pytest.raises(UserError, match="No DeepDanbooru model file"):
        registry.make_model("deepdanbooru", image_size=32, num_tags=4, init_from=str(tmp_path / "missing.h5"))
