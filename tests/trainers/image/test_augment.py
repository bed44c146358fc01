from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from acg2vec.trainers.image import augment

pytestmark = pytest.mark.unit


def _jpeg(height: int = 64, width: int = 64) -> tf.Tensor:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    image[:, : width // 2] = (200, 10, 10)
    return tf.io.encode_jpeg(image, quality=95)


SEED = tf.constant([1, 2], tf.int64)
OTHER_SEED = tf.constant([3, 4], tf.int64)


def _in_map(fn, *tensors):
    """Run ``fn`` inside Dataset.map (graph mode) on one element."""
    ds = tf.data.Dataset.from_tensors(tensors).map(fn)
    return next(iter(ds))


def test_random_crop_eager_and_in_map_agree_and_depend_on_seed():
    data = _jpeg(80, 60)
    eager = augment.decode_and_random_crop(data, size=32, seed=SEED)
    mapped = _in_map(lambda b, s: augment.decode_and_random_crop(b, size=32, seed=s), data, SEED)
    other = augment.decode_and_random_crop(data, size=32, seed=OTHER_SEED)
    assert eager.shape == (32, 32, 3) and eager.dtype == tf.float32
    assert float(tf.reduce_min(eager)) >= 0.0 and float(tf.reduce_max(eager)) <= 1.0
    np.testing.assert_allclose(eager.numpy(), mapped.numpy(), atol=1e-6)
    assert not np.allclose(eager.numpy(), other.numpy())


def test_decode_and_resize_eager_and_in_map():
    data = _jpeg()
    eager = augment.decode_and_resize(data, size=16)
    mapped = _in_map(lambda b: augment.decode_and_resize(b, size=16), data)
    assert eager.shape == (16, 16, 3)
    np.testing.assert_allclose(eager.numpy(), mapped.numpy(), atol=1e-6)
    # Left half is red in the source image.
    assert eager.numpy()[:, :4, 0].mean() > 0.7 and eager.numpy()[:, :4, 1].mean() < 0.2


def test_random_flip_is_a_mirror_or_identity_and_same_in_map():
    image = tf.reshape(tf.range(4 * 4 * 3, dtype=tf.float32), [4, 4, 3]) / 48.0
    seen = set()
    for k in range(8):
        seed = tf.constant([k, 7], tf.int64)
        eager = augment.random_flip(image, seed=seed).numpy()
        mapped = _in_map(lambda x, s: augment.random_flip(x, seed=s), image, seed).numpy()
        np.testing.assert_array_equal(eager, mapped)
        flipped = np.array_equal(eager, image.numpy()[:, ::-1])
        assert flipped or np.array_equal(eager, image.numpy())
        seen.add(flipped)
    assert seen == {True, False}


def test_colour_jitter_is_mild_bounded_and_same_in_map():
    image = tf.fill([8, 8, 3], 0.5)
    eager = augment.colour_jitter(image, seed=SEED, strength=0.1)
    mapped = _in_map(lambda x, s: augment.colour_jitter(x, seed=s, strength=0.1), image, SEED)
    np.testing.assert_allclose(eager.numpy(), mapped.numpy(), atol=1e-6)
    assert float(tf.reduce_max(tf.abs(eager - image))) <= 0.2
    assert not np.allclose(eager.numpy(), augment.colour_jitter(image, seed=OTHER_SEED, strength=0.1).numpy())
    np.testing.assert_array_equal(augment.colour_jitter(image, seed=SEED, strength=0.0).numpy(), image.numpy())


def test_decode_any_to_square_pads_white_png_and_jpeg():
    black = np.zeros((20, 40, 3), np.uint8)
    for data in (tf.io.encode_png(black), tf.io.encode_jpeg(black)):
        eager = augment.decode_any_to_square(data, size=40).numpy()
        mapped = _in_map(lambda b: augment.decode_any_to_square(b, size=40), data).numpy()
        np.testing.assert_allclose(eager, mapped, atol=1e-6)
        assert eager.shape == (40, 40, 3)
        assert eager[0].min() > 0.95 and eager[-1].min() > 0.95  # white pad above and below
        assert eager[20].max() < 0.1  # the black image in the middle
