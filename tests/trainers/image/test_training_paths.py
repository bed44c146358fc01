"""Training paths beyond the default tagger: alt_i2v end to end, the learning-rate schedule, NaN and early stops."""

from __future__ import annotations

import json

import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.trainers.image.schedules import warmup_cosine
from acg2vec.trainers.image.train import TrainConfig, train

from .conftest import TINY_DEEPDANBOORU

DATASET = "acg_illustrations/64"


def _config(tiny_data_dir, tmp_path, **overrides) -> TrainConfig:
    fields = dict(
        model="deepdanbooru",
        data_dir=str(tiny_data_dir),
        dataset=DATASET,
        model_dir=str(tmp_path / "model"),
        image_size=32,
        batch_size=8,
        epochs=1,
        steps_per_epoch=2,
        deterministic=True,
        model_options=dict(TINY_DEEPDANBOORU),
    )
    fields.update(overrides)
    return TrainConfig(**fields)


@pytest.mark.unit
def test_warmup_then_cosine_decay():
    schedule = warmup_cosine(1e-2, total_steps=100, warmup_steps=10, final_fraction=0.01)
    lrs = np.array([float(schedule(step)) for step in range(100)])
    assert lrs[0] == pytest.approx(1e-4, rel=1e-3)  # starts at peak / 100, not at 0
    assert np.all(np.diff(lrs[:11]) > 0) and lrs[10] == pytest.approx(1e-2, rel=1e-3)
    assert np.all(np.diff(lrs[10:]) <= 1e-9) and lrs[-1] == pytest.approx(1e-4, rel=0.05)
    # No warmup: the decay starts at the peak.
    assert float(warmup_cosine(1e-3, total_steps=10, warmup_steps=0)(0)) == pytest.approx(1e-3)


@pytest.mark.integration
def test_alt_i2v_trains_from_random_init_exports_and_predicts(tiny_data_dir, tmp_path):
    """The VGG16 recipe end to end (random init: nothing is downloaded), down to the serving signature."""
    import tensorflow as tf

    from .tiny_dataset import make_image

    config = _config(tiny_data_dir, tmp_path, model="alt_i2v", model_options={})
    result = train(config)
    assert result.exported and result.metrics["model"] == "alt_i2v" and result.metrics["epochs_run"] == 1
    model_dir = tmp_path / "model"
    names = (model_dir / "selected_tags.csv").read_text().splitlines()[1:]
    assert json.loads((model_dir / "thresholds.json").read_text())["thresholds"].keys() == {
        line.split(",")[1] for line in names
    }
    served = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    image = tf.io.encode_jpeg(make_image(np.random.default_rng(0), ["red"], 64)).numpy()
    outputs = served(image_bytes=tf.constant([image, image]))
    probabilities = next(v for k, v in outputs.items() if "prob" in k).numpy()
    assert probabilities.shape == (2, len(names)) and np.all((probabilities >= 0) & (probabilities <= 1))


@pytest.mark.integration
def test_a_nan_loss_stops_with_one_clear_sentence_and_no_backup(tiny_data_dir, tmp_path):
    config = _config(tiny_data_dir, tmp_path, learning_rate=1e30, warmup_steps=0, epochs=2, steps_per_epoch=3)
    with pytest.raises(UserError, match="the loss became NaN at epoch") as err:
        train(config)
    assert "lower --learning-rate" in str(err.value)
    assert not (tmp_path / "model" / "backup").exists()


@pytest.mark.integration
def test_early_stopping_on_validation_macro_map(tiny_data_dir, tmp_path):
    """With nothing to learn (learning rate 0) validation mAP never improves: patience 1 stops after epoch 2."""
    config = _config(tiny_data_dir, tmp_path, learning_rate=1e-12, warmup_steps=0, epochs=6, patience=1)
    result = train(config)
    history = result.metrics["history"]["val_macro_map"]
    assert result.metrics["epochs_run"] == 2 and len(history) == 2
    assert history[1] <= history[0] + 1e-6


@pytest.mark.integration
def test_a_trained_tagger_is_the_starting_point_of_deepix(tiny_data_dir, tmp_path):
    """The DeepDanbooru tagger ships its Keras file; deepix cut from it starts from the tagger's trained weights."""
    import keras

    from acg2vec.trainers.image.export import KERAS_MODEL_FILE

    tagger = train(_config(tiny_data_dir, tmp_path / "tagger"))
    keras_file = tmp_path / "tagger" / "model" / KERAS_MODEL_FILE
    assert tagger.exported and keras_file.is_file()
    tagger_model = keras.models.load_model(keras_file, compile=False)
    kernel = next(w for w in tagger_model.weights if "kernel" in w.path).numpy()

    options = {"init_from": str(keras_file), "encoder_layer": "activation_6", "head_filters": 8}
    deepix_config = _config(
        tiny_data_dir, tmp_path / "deepix", model="deepix", model_options=options, illust2vec_dir=str(tmp_path / "i2v")
    )
    result = train(deepix_config)
    assert result.exported and (tmp_path / "i2v" / "saved_model.pb").is_file()
    # deepix built from that file (as train() builds it) starts with the tagger's trained kernels, not a fresh init.
    from acg2vec.trainers.image.models import registry

    deepix_model = registry.make_model("deepix", image_size=32, num_tags=6, **options)
    start = next(w for w in deepix_model.get_layer("encoder").weights if "kernel" in w.path).numpy()
    np.testing.assert_allclose(start, kernel)
