"""The exported SavedModel: its serving and embed signatures answer as the Keras models do."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from acg2vec.trainers.image.augment import decode_any_to_square
from tests.trainers.image.exported_tagger import export_tiny_tagger, write_image_files

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_tiny_tagger(tmp_path_factory.mktemp("models") / "deepdanbooru")


@pytest.fixture
def image_files(tmp_path):
    return write_image_files(tmp_path)


def test_saved_model_signatures_match_the_keras_model(exported, image_files):
    model_dir, model, embed_model = exported
    loaded = tf.saved_model.load(str(model_dir))
    assert set(loaded.signatures) >= {"serving_default", "embed"}
    data = tf.constant([p.read_bytes() for p in image_files[:3]])
    images = tf.stack([decode_any_to_square(b, size=32) for b in data])
    probabilities = loaded.signatures["serving_default"](image_bytes=data)["probabilities"]
    embedding = loaded.signatures["embed"](image_bytes=data)["embedding"]
    assert probabilities.dtype == tf.float32 and probabilities.shape == (3, 4)
    np.testing.assert_allclose(probabilities.numpy(), model(images).numpy(), atol=1e-5)
    np.testing.assert_allclose(embedding.numpy(), embed_model(images).numpy(), atol=1e-5)
    assert json.loads((model_dir / "thresholds.json").read_text())["default"] == 0.5
