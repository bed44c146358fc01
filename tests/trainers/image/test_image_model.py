"""``load_image_model`` on tiny models written by the test in each release layout (names, file formats, input
size, value range, channel order), and on acg2vec's own export; a folder in no layout and a tags file of the
wrong length are one sentence."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary, write_thresholds
from acg2vec.errors import UserError
from acg2vec.imaging import ImageDrop
from acg2vec.trainers.image import export
from acg2vec.trainers.image.image_model import detect_layout, load_image_model
from acg2vec.trainers.image.image_model.illust2vec import I2V_MEAN_BGR
from acg2vec.trainers.image.models import deepdanbooru

from .conftest import TINY_DEEPDANBOORU
from .release_fakes import i2v_onnx, wd_onnx

pytestmark = pytest.mark.integration

RED_RGB = (220, 30, 30)


def _png(rgb: tuple[int, int, int], width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


# -- DeepDanbooru release project ---------------------------------------------------------------------------

DD_TAGS = ["1girl", "red_hair", "hatsune_miku", "rating:safe", "rating:questionable", "rating:explicit"]


def _keras_tagger(size: int, n_tags: int):
    """conv 3x3 -> 1x1 conv per tag -> pool -> sigmoid: the DeepDanbooru head shape, sensitive to colour."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3), name="input_1")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2d")(inputs)
    x = keras.layers.Conv2D(n_tags, 1, name="conv2d_1")(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    outputs = keras.layers.Activation("sigmoid", name="activation")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def deepdanbooru_project(tmp_path_factory):
    """A DeepDanbooru v3 release folder: model-resnet_custom_v3.h5, tags*.txt, project.json (24 px)."""
    folder = tmp_path_factory.mktemp("deepdanbooru-v3-20211112-sgd-e28")
    model = _keras_tagger(24, len(DD_TAGS))
    model.save(folder / "model-resnet_custom_v3.h5")
    (folder / "tags.txt").write_text("\n".join(DD_TAGS) + "\n")
    (folder / "tags-general.txt").write_text("1girl\nred_hair\n")
    (folder / "tags-character.txt").write_text("hatsune_miku\n")
    project = {"image_width": 24, "image_height": 24, "model": "resnet_custom_v3", "minimum_tag_count": 20}
    (folder / "project.json").write_text(json.dumps(project))
    return folder, model


def test_deepdanbooru_release_takes_rgb_in_0_1_at_its_size(deepdanbooru_project):
    folder, keras_model = deepdanbooru_project
    model = load_image_model(folder)
    assert (model.kind, model.image_size, model.has_tags, model.has_embedding) == ("deepdanbooru", 24, True, True)
    assert model.tags[:3] == [("1girl", "general"), ("red_hair", "general"), ("hatsune_miku", "character")]
    assert model.rating_names == ["safe", "questionable", "explicit"] and model.has_rating
    scores = model.tag_probabilities([_png(RED_RGB, 24, 24), _png(RED_RGB, 50, 50)])
    expected = keras_model.predict_on_batch(np.tile(np.array(RED_RGB, np.float32) / 255, (1, 24, 24, 1)))
    assert scores.shape == (2, len(DD_TAGS))
    np.testing.assert_allclose(scores[0], expected[0], atol=1e-5)
    np.testing.assert_allclose(scores[1], expected[0], atol=1e-3)  # resized to 24 px first
    # The other channel order or range gives other scores: the check above tells them apart.
    wrong = keras_model.predict_on_batch(np.tile(np.array(RED_RGB[::-1], np.float32) / 255, (1, 24, 24, 1)))
    assert np.abs(wrong[0] - expected[0]).max() > 1e-3
    ratings = model.rating([_png(RED_RGB, 24, 24)])
    np.testing.assert_allclose(ratings.sum(axis=1), 1.0, atol=1e-6)
    assert model.embed([_png(RED_RGB, 24, 24)]).shape == (1, 8)
    np.testing.assert_allclose(model.thresholds, 0.5)


def test_deepdanbooru_tags_file_of_the_wrong_length_is_one_sentence(deepdanbooru_project, tmp_path):
    folder, _ = deepdanbooru_project
    for name in ("model-resnet_custom_v3.h5", "project.json", "tags-general.txt", "tags-character.txt"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    (tmp_path / "tags.txt").write_text("\n".join(DD_TAGS[:4]) + "\n")
    with pytest.raises(UserError, match=r"tags.txt lists 4 tags but the model .* has 6 outputs"):
        load_image_model(tmp_path)


def test_a_deepdanbooru_project_without_project_json_is_one_sentence(deepdanbooru_project, tmp_path):
    folder, _ = deepdanbooru_project
    for name in ("model-resnet_custom_v3.h5", "tags.txt"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    assert detect_layout(tmp_path) == "incomplete"
    with pytest.raises(UserError, match="looks like a DeepDanbooru project but lacks project.json"):
        load_image_model(tmp_path)


def test_a_real_size_deepdanbooru_network_saved_as_h5_starts_deepix(tmp_path):
    """The release file of the real network family (here at tiny width) is what --init-from takes."""
    from acg2vec.trainers.image.models import deepix

    model = deepdanbooru.make_model((32, 32, 3), 5, **TINY_DEEPDANBOORU)
    model.save(tmp_path / "model-resnet_custom_v4.h5")
    path = deepdanbooru.model_file(tmp_path)
    assert path.endswith("model-resnet_custom_v4.h5")
    encoder = deepix.make_encoder((32, 32, 3), layer="activation_6", init_from=path)
    assert len(encoder.output.shape) == 4 and encoder.layers[-1].name == "activation_6"
    with pytest.raises(UserError, match="holds no DeepDanbooru model file"):
        deepdanbooru.model_file(_empty(tmp_path))


def _empty(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


# -- WD-style tagger (ONNX) ---------------------------------------------------------------------------------

WD_TAGS = [
    ("general", 9, 100),
    ("sensitive", 9, 50),
    ("questionable", 9, 20),
    ("explicit", 9, 10),
    ("1girl", 0, 900),
    ("red_hair", 0, 300),
    ("hakurei_reimu", 4, 80),
]


@pytest.fixture(scope="module")
def wd_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wd-vit-tagger-v3")
    rng = np.random.default_rng(0)
    weights = (rng.normal(size=(3, len(WD_TAGS))) / 100).astype(np.float32)
    bias = rng.normal(size=len(WD_TAGS)).astype(np.float32)
    wd_onnx(folder / "model.onnx", 16, weights, bias)
    rows = ["tag_id,name,category,count"] + [
        f"{9000 + i},{name},{category},{count}" for i, (name, category, count) in enumerate(WD_TAGS)
    ]
    (folder / "selected_tags.csv").write_text("\n".join(rows) + "\n")
    return folder, weights, bias


def test_wd_tagger_takes_bgr_0_255_padded_to_a_white_square(wd_folder):
    folder, weights, bias = wd_folder
    model = load_image_model(folder)
    assert (model.kind, model.image_size, model.has_embedding) == ("wd-tagger", 16, False)
    assert dict(model.tags)["hakurei_reimu"] == "character" and dict(model.tags)["general"] == "rating"
    assert model.rating_names == ["general", "sensitive", "questionable", "explicit"]
    # A 16x8 red picture: padded with white rows to 16x16, so the mean pixel is half red, half white.
    scores = model.tag_probabilities([_png(RED_RGB, 16, 8)])
    mean_bgr = 0.5 * np.array(RED_RGB[::-1], np.float32) + 0.5 * 255
    np.testing.assert_allclose(scores[0], _sigmoid(mean_bgr @ weights + bias), atol=1e-5)
    rgb_instead = _sigmoid((0.5 * np.array(RED_RGB, np.float32) + 0.5 * 255) @ weights + bias)
    assert np.abs(scores[0] - rgb_instead).max() > 1e-3
    np.testing.assert_allclose(model.rating([_png(RED_RGB, 16, 8)]), scores[:, :4], atol=1e-6)
    assert model.thresholds[4] == pytest.approx(0.35) and model.thresholds[6] == pytest.approx(0.85)
    with pytest.raises(UserError, match="gives no image vectors"):
        model.embed([_png(RED_RGB, 16, 16)])
    with pytest.raises(ImageDrop):
        model.tag_probabilities([b"not an image"])


def test_wd_selected_tags_of_the_wrong_length_is_one_sentence(wd_folder, tmp_path):
    folder, _, _ = wd_folder
    (tmp_path / "model.onnx").write_bytes((folder / "model.onnx").read_bytes())
    (tmp_path / "selected_tags.csv").write_text("tag_id,name,category,count\n1,1girl,0,5\n")
    with pytest.raises(UserError, match=r"selected_tags.csv lists 1 tags but the model .* has 7 outputs"):
        load_image_model(tmp_path)


# -- illustration2vec-style export (ONNX, NCHW, Caffe mean) -------------------------------------------------


def test_illust2vec_feature_export_takes_bgr_minus_the_caffe_mean_nchw(tmp_path):
    weights = np.random.default_rng(1).normal(size=(3, 6)).astype(np.float32)
    i2v_onnx(tmp_path / "illust2vec_ver200.onnx", 8, weights)
    model = load_image_model(tmp_path)
    assert (model.kind, model.image_size, model.has_tags, model.has_embedding) == ("illust2vec", 8, False, True)
    vectors = model.embed([_png(RED_RGB, 8, 8), _png((0, 0, 255), 8, 8)])
    expected = (np.array(RED_RGB[::-1], np.float32) - np.array(I2V_MEAN_BGR, np.float32)) @ weights
    np.testing.assert_allclose(vectors[0], expected, rtol=1e-5, atol=1e-3)
    with pytest.raises(UserError, match="not a tagger"):
        model.tag_probabilities([_png(RED_RGB, 8, 8)])
    # Its tag model: tag_list.json must match the outputs.
    (tmp_path / "tag_list.json").write_text(json.dumps(["a", "b", "c"]))
    with pytest.raises(UserError, match=r"tag_list.json lists 3 tags but the model .* has 6 outputs"):
        load_image_model(tmp_path)
    (tmp_path / "tag_list.json").write_text(json.dumps(list("abcdef")))
    tagger = load_image_model(tmp_path)
    assert tagger.has_tags and not tagger.has_embedding and tagger.tag_names == list("abcdef")


def test_illust2vec_keras_export_channels_last_takes_the_same_caffe_input(tmp_path):
    """The Keras branch: a `.keras` feature model with an NHWC input gets BGR minus the mean, not transposed."""
    import keras

    weights = np.random.default_rng(2).normal(size=(3, 5)).astype(np.float32)
    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    features = keras.layers.Dense(5, use_bias=False, name="features")(pooled)
    network = keras.Model(inputs, features)
    network.get_layer("features").set_weights([weights])
    network.save(tmp_path / "illust2vec_ver200.keras")
    model = load_image_model(tmp_path)
    assert (model.kind, model.image_size, model.has_tags, model.has_embedding) == ("illust2vec", 8, False, True)
    vectors = model.embed([_png(RED_RGB, 8, 8), _png((0, 0, 255), 8, 8)])
    mean = np.array(I2V_MEAN_BGR, np.float32)
    np.testing.assert_allclose(
        vectors[0], (np.array(RED_RGB[::-1], np.float32) - mean) @ weights, rtol=1e-5, atol=1e-3
    )
    np.testing.assert_allclose(vectors[1], (np.array([255, 0, 0], np.float32) - mean) @ weights, rtol=1e-5, atol=1e-3)


# -- acg2vec's own export, and folders in no layout -----------------------------------------------------------


def test_acg2vec_export_loads_with_its_tags_thresholds_and_embedding(tmp_path):
    model_dir = tmp_path / "deepdanbooru"
    names = ["red", "green", "blue"]
    keras_model = deepdanbooru.make_model((32, 32, 3), len(names), **TINY_DEEPDANBOORU)
    embed_model = export.embedding_model(keras_model, deepdanbooru.feature_tensor(keras_model))
    export.export_image_model(str(model_dir), image_size=32, embed_model=embed_model, tag_model=keras_model)
    TagVocabulary(names, ["general", "general", "character"], [3, 2, 1]).write(str(model_dir))
    write_thresholds(str(model_dir), method="test", default=0.5, thresholds={"red": 0.2})
    model = load_image_model(model_dir)
    assert (model.kind, model.image_size, model.has_tags, model.has_embedding, model.has_rating) == (
        "acg2vec",
        32,
        True,
        True,
        False,
    )
    assert model.tags[2] == ("blue", "character")
    np.testing.assert_allclose(model.thresholds, [0.2, 0.5, 0.5])
    images = [_png(RED_RGB, 32, 32), _png((0, 200, 0), 40, 20)]
    assert model.tag_probabilities(images).shape == (2, 3)
    assert model.embed(images).shape[0] == 2
    with pytest.raises(ImageDrop):
        model.tag_probabilities([b"not an image"])
    # A selected_tags.csv that does not match the outputs.
    (model_dir / "selected_tags.csv").write_text("tag_id,name,category,count\n0,red,0,3\n")
    with pytest.raises(UserError, match="lists 1 tags but the model"):
        load_image_model(model_dir)


def test_a_folder_in_no_layout_is_one_sentence(tmp_path):
    (tmp_path / "notes.txt").write_text("weights go here")
    assert detect_layout(tmp_path) is None
    with pytest.raises(UserError) as caught:
        load_image_model(tmp_path)
    message = str(caught.value)
    assert "holds no image model in a known layout" in message and "\n" not in message
    with pytest.raises(UserError, match="No model folder"):
        load_image_model(tmp_path / "missing")
