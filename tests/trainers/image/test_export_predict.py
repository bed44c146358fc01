from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from acg2vec.deadletter import DeadLetters
from acg2vec.trainers.image import export, predict
from acg2vec.trainers.image.augment import decode_any_to_square
from acg2vec.trainers.image.input_pipeline import TagVocab
from acg2vec.trainers.image.models import deepdanbooru

from .conftest import TINY_DEEPDANBOORU
from .tiny_dataset import make_image

pytestmark = pytest.mark.integration
NAMES = ["red", "green", "blue", "yellow"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny DeepDanbooru tagger exported the way ``acg2vec train tagger`` exports it."""
    model_dir = tmp_path_factory.mktemp("models") / "deepdanbooru"
    model = deepdanbooru.make_model((32, 32, 3), len(NAMES), **TINY_DEEPDANBOORU)
    embed_model = export.embedding_model(model, deepdanbooru.feature_tensor(model))
    export.export_image_model(str(model_dir), image_size=32, embed_model=embed_model, tag_model=model)
    vocab = TagVocab(NAMES, [0] * 4, [4, 3, 2, 1])
    thresholds = {
        "method": "test",
        "default": 0.5,
        "thresholds": {"red": 0.0, "green": 1.1, "blue": 0.0, "yellow": 1.1},
    }
    export.write_tag_files(str(model_dir), selected_tags_csv=vocab.to_csv(), thresholds=thresholds)
    return model_dir, model, embed_model


@pytest.fixture
def image_files(tmp_path):
    rng = np.random.default_rng(1)
    paths = []
    for i, present in enumerate((["red"], ["blue", "green"], ["yellow"])):
        image = make_image(rng, present, 48)[:, :40]  # not square: serving pads it like the dataset
        path = tmp_path / f"{1000 + i}.png" if i % 2 else tmp_path / f"{1000 + i}.jpg"
        data = tf.io.encode_png(image) if i % 2 else tf.io.encode_jpeg(image)
        path.write_bytes(data.numpy())
        paths.append(path)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    return [*paths, bad]


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


def test_predict_uses_tuned_thresholds_or_top_k_and_counts_bad_files(exported, image_files):
    model_dir = str(exported[0])
    with DeadLetters(None) as dead:
        tuned = list(predict.predict_tags(image_files, model_dir=model_dir, dead=dead))
    assert dead.counts == {"undecodable-image": 1}
    assert [r.path for r in tuned] == [str(p) for p in image_files[:3]]
    # thresholds 0 and 1.1: exactly red and blue, whatever the untrained scores are
    assert all(
        [t.name for t in r.tags] == sorted(["red", "blue"], key=lambda n: -dict((t.name, t.score) for t in r.tags)[n])
        for r in tuned
    )
    with DeadLetters(None) as dead:
        top = list(predict.predict_tags(image_files[:3], model_dir=model_dir, top_k=3, dead=dead))
    for result in top:
        scores = [t.score for t in result.tags]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)


def test_embed_writes_npy_and_parquet_with_ids(exported, image_files, tmp_path):
    out = tmp_path / "vectors" / "images"
    with DeadLetters(tmp_path / "dead.jsonl") as dead:
        written = predict.embed_files(image_files, model_dir=str(exported[0]), out=str(out), batch_size=2, dead=dead)
    assert written == 3 and dead.total == 1  # read 4 = written 3 + dropped 1
    vectors = np.load(f"{out}.npy")
    table = pq.read_table(f"{out}.parquet").to_pydict()
    assert vectors.shape == (3, exported[2].output.shape[-1]) and vectors.dtype == np.float32
    assert table["id"] == ["1000", "1001", "1002"] and table["row"] == [0, 1, 2]
    np.testing.assert_allclose(np.array(table["vector"], np.float32), vectors)
    assert json.loads((tmp_path / "dead.jsonl").read_text().splitlines()[0])["reason"] == "undecodable-image"
