from __future__ import annotations

import keras
import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.trainers.image.models import deepdanbooru, deepix, illust2vec, registry

from .conftest import TINY_DEEPDANBOORU

pytestmark = pytest.mark.unit
IMAGES = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")


def test_registry_names_and_unknown_model():
    assert set(registry.MODELS) == {"alt_i2v", "deepdanbooru", "deepix"}
    with pytest.raises(UserError, match="Unknown model 'vit'"):
        registry.make_model("vit", image_size=32, num_tags=3)
    with pytest.raises(UserError, match="Bad option"):
        registry.make_model("deepdanbooru", image_size=32, num_tags=3, colour="red")


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
    with pytest.raises(UserError, match="Cannot load"):
        registry.make_model("deepdanbooru", image_size=32, num_tags=4, init_from=str(tmp_path / "missing.h5"))


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


def _tiny_deepix(encoder_lr: float):
    return deepix.make_model(
        (32, 32, 3),
        3,
        encoder_layer="activation_6",
        head_filters=8,
        encoder_learning_rate=encoder_lr,
        **TINY_DEEPDANBOORU,
    )


def test_deepix_heads_and_missing_cut_layer():
    model = _tiny_deepix(1e-5)
    out = model(IMAGES)
    assert {k: tuple(v.shape) for k, v in out.items()} == {"tags": (2, 3), "rating": (2, 4), "popularity": (2, 3)}
    np.testing.assert_allclose(out["rating"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(UserError, match="no layer 'activation_96'"):
        deepix.make_model((32, 32, 3), 3, **TINY_DEEPDANBOORU)


def test_deepix_encoder_and_heads_learn_at_their_own_rates():
    from acg2vec.trainers.image import losses

    model = _tiny_deepix(0.0)  # a frozen-by-learning-rate encoder
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss={
            "tags": losses.make_tag_loss("bce"),
            "rating": keras.losses.SparseCategoricalCrossentropy(),
            "popularity": losses.masked_log_mse,
        },
    )
    encoder = [v.numpy().copy() for v in model.get_layer("encoder").trainable_variables]
    heads = [v.numpy().copy() for v in model.get_layer("tags_head").trainable_variables]
    y = {
        "tags": np.array([[1, 0, 1], [0, 1, 0]], np.float32),
        "rating": np.array([0, 2]),
        "popularity": np.array([[5, -1, -1], [7, 100, 3]], np.float32),
    }
    history = model.fit(IMAGES, y, epochs=2, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and "tags_loss" in history.history
    for before, var in zip(encoder, model.get_layer("encoder").trainable_variables, strict=True):
        np.testing.assert_array_equal(before, var.numpy())
    assert any(
        not np.array_equal(b, v.numpy())
        for b, v in zip(heads, model.get_layer("tags_head").trainable_variables, strict=True)
    )


def test_illust2vec_is_the_pooled_deepix_encoder():
    model = _tiny_deepix(1e-5)
    embedder = illust2vec.from_deepix(model)
    vectors = embedder(IMAGES).numpy()
    features = model.get_layer("encoder")(IMAGES).numpy()
    np.testing.assert_allclose(vectors, features.mean(axis=(1, 2)), rtol=1e-4, atol=1e-6)


def test_full_size_deepix_cut_gives_the_1024_d_illust2vec():
    """The default cut of the full DeepDanbooru v3 network (activation_96) is 1,024 channels: illust2vec's size."""
    encoder = deepix.make_encoder((64, 64, 3), layer=deepix.DEFAULT_ENCODER_LAYER, version="v3")
    assert deepix.DEFAULT_ENCODER_LAYER == "activation_96"
    assert encoder.output.shape[-1] == 1024
