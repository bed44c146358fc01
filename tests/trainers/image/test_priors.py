"""Output offsets at the training priors, and the standard checks that the trainers learn at all: a few dozen
examples are overfitted to near-zero loss, and on the sample site's pictures the loss ends below the constant
predictor's (which the priors alone give)."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.trainers.image import priors
from acg2vec.trainers.image.input_pipeline import open_dataset
from acg2vec.trainers.image.models import alt_i2v, deepdanbooru, deepix
from acg2vec.trainers.image.train import TrainConfig, train

from .conftest import TINY_DEEPDANBOORU
from .sample_dataset import write_sample_dataset
from .tiny_dataset import write_tiny_dataset

FREQUENCIES = np.array([0.5, 0.1, 0.01, 0.0])


def test_log_odds_and_the_constant_predictors_loss():
    p = priors.LabelPriors(tag_frequency=FREQUENCIES)
    np.testing.assert_allclose(p.tag_log_odds[:3], np.log([1.0, 0.1 / 0.9, 0.01 / 0.99]), rtol=1e-5)
    assert np.isfinite(p.tag_log_odds[3]) and p.tag_log_odds[3] < -9  # a tag no image has: clipped, finite
    expected = np.mean([0.6931472, 0.3250830, 0.0560008, 0.0010210])
    assert p.constant_bce() == pytest.approx(expected, rel=1e-3)


@pytest.mark.integration
def test_every_tagger_head_starts_at_the_priors():
    p = priors.LabelPriors(
        tag_frequency=FREQUENCIES,
        rating_frequency=np.array([0.7, 0.15, 0.1, 0.05]),
        popularity_mean=np.array([2.0, 6.0, 3.0]),
    )
    tagger = deepdanbooru.make_model((32, 32, 3), 4, **TINY_DEEPDANBOORU)
    assert priors.init_output_biases(tagger, p) == ["tags_bn"]
    np.testing.assert_allclose(tagger.get_layer("tags_bn").beta.numpy(), p.tag_log_odds, rtol=1e-6)
    # With batch-norm statistics at their start (mean 0, variance 1) and a zero feature map the output is the prior.
    tagger.get_layer(deepdanbooru.HEAD_CONV).kernel.assign(np.zeros(tagger.get_layer("tags_conv").kernel.shape))
    out = tagger.predict_on_batch(np.random.default_rng(0).random((2, 32, 32, 3)))
    np.testing.assert_allclose(out[0], np.clip(FREQUENCIES, 1e-4, 1), rtol=1e-3)

    biased_head = deepdanbooru.make_model((32, 32, 3), 4, head_batch_norm=False, **TINY_DEEPDANBOORU)
    assert priors.init_output_biases(biased_head, p) == ["tags_conv"]
    biased_head.get_layer("tags_conv").kernel.assign(np.zeros(biased_head.get_layer("tags_conv").kernel.shape))
    out = biased_head.predict_on_batch(np.random.default_rng(0).random((2, 32, 32, 3)))
    np.testing.assert_allclose(out[1], np.clip(FREQUENCIES, 1e-4, 1), rtol=1e-3)

    small_vgg = alt_i2v.make_model((32, 32, 3), 4, width=1 / 16, hidden=16)
    assert priors.init_output_biases(small_vgg, p) == ["tags"]
    np.testing.assert_allclose(small_vgg.get_layer("tags").bias.numpy(), p.tag_log_odds, rtol=1e-6)

    multitask = deepix.make_model((32, 32, 3), 4, encoder_layer="activation_6", head_filters=8, **TINY_DEEPDANBOORU)
    assert sorted(priors.init_output_biases(multitask, p)) == ["popularity", "rating", "tags"]
    np.testing.assert_allclose(multitask.get_layer("rating").bias.numpy(), np.log(p.rating_frequency), rtol=1e-6)
    np.testing.assert_allclose(multitask.get_layer("popularity").bias.numpy(), p.popularity_mean, rtol=1e-6)


@pytest.mark.integration
def test_read_priors_counts_the_training_labels(tmp_path):
    write_tiny_dataset(tmp_path, splits={"train": 40, "validation": 8})
    builder = open_dataset(str(tmp_path), "acg_illustrations/64")
    from acg2vec.trainers.image.input_pipeline import load_vocab

    vocab = load_vocab(builder)
    p = priors.read_priors(builder, "train", vocab, task="deepix")
    # The tiny dataset's selected_tags.csv counts every split; the priors count the training split only.
    assert p.tag_frequency.shape == (len(vocab),) and 0 < p.tag_frequency.max() <= 1
    assert p.rating_frequency.sum() == pytest.approx(1.0) and p.rating_frequency[0] > p.rating_frequency[3]
    # score = 10 x colours present, views 100 x: log1p means in a plausible range; bookmarks known on half.
    assert 2.0 < p.popularity_mean[0] < 4.0 and 4.5 < p.popularity_mean[1] < 6.5


@pytest.mark.integration
def test_a_few_dozen_examples_are_overfitted_to_near_zero_loss(tmp_path):
    """The standard check: a model that cannot memorise 32 pictures has a bug in its labels, input or loss."""
    write_tiny_dataset(tmp_path / "datasets", splits={"train": 32, "validation": 8}, seed=5)
    result = train(
        TrainConfig(
            model="deepdanbooru",
            data_dir=str(tmp_path / "datasets"),
            dataset="acg_illustrations/64",
            model_dir=str(tmp_path / "models" / "deepdanbooru"),
            image_size=32,
            batch_size=32,
            # Few epochs of many steps: each epoch end costs a validation pass, a checkpoint and a backup.
            epochs=2,
            steps_per_epoch=30,
            learning_rate=1e-2,
            warmup_steps=0,
            top_tags=None,
            patience=2,
            crop_scale=(1.0, 1.0),
            colour_jitter=0.0,
            deterministic=True,
            model_options={"version": "v4", "width": 1 / 8, "depth": 0.05, "head_batch_norm": False},
        )
    )
    losses = result.metrics["history"]["loss"]
    print({"first": losses[0], "last": losses[-1], "constant": result.metrics["constant_predictor_loss"]})
    assert losses[-1] < 0.05 < result.metrics["constant_predictor_loss"]


@pytest.mark.slow
@pytest.mark.integration
def test_on_the_sample_sites_pictures_the_loss_ends_below_the_constant_predictors(tmp_path):
    """The sample site's own posts (its world and drawing code): the tagger learns what the priors cannot."""
    write_sample_dataset(tmp_path / "datasets", posts=500, size=96)
    result = train(
        TrainConfig(
            model="deepdanbooru",
            data_dir=str(tmp_path / "datasets"),
            dataset="acg_illustrations/96",
            model_dir=str(tmp_path / "models" / "deepdanbooru"),
            image_size=96,
            batch_size=16,
            epochs=8,
            learning_rate=3e-3,
            top_tags=None,
            patience=8,
            crop_scale=(1.0, 1.0),
            colour_jitter=0.0,
            deterministic=True,
            model_options={"version": "v3", "width": 1 / 8, "depth": 0.05, "head_batch_norm": False},
        )
    )
    m = result.metrics
    print({k: m[k] for k in ("constant_predictor_loss", "val_macro_map", "baseline_macro_map")}, m["history"]["loss"])
    assert m["history"]["loss"][-1] < m["constant_predictor_loss"] - 0.01
    assert m["val_macro_map"] > m["baseline_macro_map"] + 0.05
