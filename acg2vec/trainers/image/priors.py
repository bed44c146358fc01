"""Output layers that start at the training data's priors.

A sigmoid head whose offset starts at 0 predicts 0.5 for every tag; with a typical tag on 10 % of images it must
move its offset to about -2.2, which Adam at 1e-3 does at about 1e-3 a step, so a short run spends all its steps
learning what the tag-frequency baseline already knows and never reaches the pictures. Starting every tag's
offset at the log-odds of its training frequency (and the rating head at the log prior of the ratings, the
popularity head at the mean target) makes the first step's loss the constant predictor's, and all training
goes into what the pixels add.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

# Frequencies are clipped away from 0 and 1 so a tag seen on every (or no) training image keeps a finite offset.
MIN_FREQUENCY = 1e-4
# DeepDanbooru's head ends in batch norm (or a biased 1x1 convolution without it); alt_i2v and deepix in a Dense.
TAG_BIAS_LAYERS = ("tags_bn", "tags_conv", "tags")


@dataclass(slots=True)
class LabelPriors:
    """What a constant predictor knows about the training split."""

    tag_frequency: np.ndarray  # [num_tags] share of training images with each tag
    rating_frequency: np.ndarray | None = None  # [4] share of each rating
    popularity_mean: np.ndarray | None = None  # [3] mean log1p target over known values

    @property
    def tag_log_odds(self) -> np.ndarray:
        p = np.clip(self.tag_frequency, MIN_FREQUENCY, 1 - MIN_FREQUENCY)
        return np.log(p / (1 - p)).astype(np.float32)

    def constant_bce(self) -> float:
        """Mean BCE over tags of the constant predictor on the training split (the loss to beat)."""
        p = np.clip(self.tag_frequency, MIN_FREQUENCY, 1 - MIN_FREQUENCY)
        return float(np.mean(-(p * np.log(p) + (1 - p) * np.log(1 - p))))


def read_priors(builder, split: str, vocab, *, sample: int = 4096, task: str = "tags") -> LabelPriors:
    """Tag frequencies over (up to ``sample``) training examples read without decoding a picture; for deepix
    also the rating shares and the mean popularity targets."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from acg2vec.trainers.image.input_pipeline import POPULARITY_FEATURES, make_lookup, multi_hot

    ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()}).take(sample)
    table = make_lookup(vocab)
    n_ratings = 4

    def labels(example):
        popularity = tf.stack([tf.cast(example[key], tf.float32) for key in POPULARITY_FEATURES])
        return multi_hot(example, table, len(vocab)), tf.one_hot(example["rating"], n_ratings), popularity

    tags = np.zeros(len(vocab))
    ratings = np.zeros(n_ratings)
    popularity_sum = np.zeros(len(POPULARITY_FEATURES))
    popularity_known = np.zeros(len(POPULARITY_FEATURES))
    n = 0
    for tag_batch, rating_batch, pop_batch in tfds.as_numpy(ds.map(labels).batch(256)):
        tags += tag_batch.sum(axis=0)
        ratings += rating_batch.sum(axis=0)
        known = pop_batch >= 0
        popularity_sum += np.where(known, np.log1p(np.maximum(pop_batch, 0)), 0).sum(axis=0)
        popularity_known += known.sum(axis=0)
        n += len(tag_batch)
    priors = LabelPriors(tag_frequency=tags / max(n, 1))
    if task == "deepix":
        priors.rating_frequency = (ratings + 1) / (n + n_ratings)  # add-one: a rating absent from the sample
        priors.popularity_mean = popularity_sum / np.maximum(popularity_known, 1)
    return priors


def init_output_biases(model, priors: LabelPriors) -> list[str]:
    """Set the offsets of ``model``'s output layers to the priors; returns the layers set.

    Looks inside sub-models too (deepix's heads). Layers are found by their names: ``tags_bn`` (DeepDanbooru's
    batch-norm offset), ``tags`` (a Dense with bias), ``rating`` and ``popularity`` (deepix).
    """
    done = []
    for layer in _all_layers(model):
        name = layer.name
        if name in TAG_BIAS_LAYERS:
            done += _set_offset(layer, priors.tag_log_odds)
        elif name == "rating" and priors.rating_frequency is not None:
            done += _set_offset(layer, np.log(priors.rating_frequency).astype(np.float32))
        elif name == "popularity" and priors.popularity_mean is not None:
            done += _set_offset(layer, priors.popularity_mean.astype(np.float32))
    log.info("Output offsets set to the training priors: %s", ", ".join(done) or "none found")
    return done


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def _set_offset(layer, values: np.ndarray) -> list[str]:
    """Set a Dense / Conv2D bias or a BatchNormalization beta; a layer of another width or without one is left
    alone."""
    import keras

    if isinstance(layer, keras.layers.BatchNormalization) and layer.center:
        variable = layer.beta
    elif isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)) and layer.use_bias:
        variable = layer.bias
    else:
        return []
    if tuple(variable.shape) != tuple(values.shape):
        return []
    variable.assign(values.astype(variable.dtype))
    return [layer.name]
