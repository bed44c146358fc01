"""Training runs on the tiny dataset: alt_i2v end to end, NaN and early stops, deepix from a tagger, learning."""

from __future__ import annotations

import json

import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.trainers.image.train import TrainConfig, train

from .conftest import TINY_DEEPDANBOORU
from .tiny_dataset import write_tiny_dataset

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


@pytest.mark.slow
@pytest.mark.integration
def test_tagger_beats_the_tag_frequency_baseline(tmp_path):
    """A small DeepDanbooru learns the colour tags: validation macro mAP clearly above the frequency baseline."""
    data_dir = tmp_path / "datasets"
    write_tiny_dataset(data_dir, splits={"train": 192, "validation": 64}, seed=3)
    result = train(
        TrainConfig(
            model="deepdanbooru",
            data_dir=str(data_dir),
            dataset="acg_illustrations/64",
            model_dir=str(tmp_path / "models" / "deepdanbooru"),
            image_size=64,
            batch_size=16,
            epochs=10,
            steps_per_epoch=12,
            learning_rate=5e-3,
            top_tags=None,
            patience=10,
            crop_scale=(0.8, 1.0),
            deterministic=True,
            colour_jitter=0.0,
            model_options={"version": "v4", "width": 1 / 8, "depth": 0.05, "bn_momentum": 0.8},
        )
    )
    metrics = result.metrics
    print({k: metrics[k] for k in ("val_macro_map", "baseline_macro_map", "epochs_run")})
    assert metrics["val_macro_map"] >= metrics["baseline_macro_map"] + 0.25
