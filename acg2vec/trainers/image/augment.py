"""Image decoding and augmentation as TensorFlow graph ops (usable eagerly and inside ``Dataset.map``).

Every random op is stateless and takes a ``seed`` tensor of shape [2], so a run with a fixed base seed sees
exactly the same crops, flips and colours (the input pipeline's deterministic mode relies on this).
"""

from __future__ import annotations

import tensorflow as tf


def decode_and_random_crop(
    image_bytes: tf.Tensor,
    *,
    size: int,
    seed: tf.Tensor,
    scale: tuple[float, float] = (0.5, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tf.Tensor:
    """Random resized crop of a JPEG, decoding only the cropped window; float32 [size, size, 3] in [0, 1]."""
    shape = tf.io.extract_jpeg_shape(image_bytes)
    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape,
        bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=ratio,
        area_range=scale,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    window = tf.stack([begin[0], begin[1], crop_size[0], crop_size[1]])
    # Fused decode-and-crop: only the window's pixels are decoded, which is most of the saving on big images.
    image = tf.image.decode_and_crop_jpeg(image_bytes, window, channels=3)
    return _resize(image, size)


def decode_and_resize(image_bytes: tf.Tensor, *, size: int) -> tf.Tensor:
    """Decode a JPEG and resize it to ``size`` (no randomness: evaluation and serving)."""
    return _resize(tf.io.decode_jpeg(image_bytes, channels=3), size)


def decode_any_to_square(image_bytes: tf.Tensor, *, size: int) -> tf.Tensor:
    """Decode a JPEG / PNG / GIF / BMP, pad it to a white square like the dataset, resize to ``size``."""
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    image = tf.image.convert_image_dtype(image, tf.float32)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    side = tf.maximum(height, width)
    # Pad with 1 - x on a zero pad then flip back, so the pad is white rather than black.
    inverted = tf.image.pad_to_bounding_box(1.0 - image, (side - height) // 2, (side - width) // 2, side, side)
    image = 1.0 - inverted
    return tf.clip_by_value(tf.image.resize(image, [size, size], antialias=True), 0.0, 1.0)


def random_flip(image: tf.Tensor, *, seed: tf.Tensor) -> tf.Tensor:
    """Mirror left-right with probability 1/2 (tags in the vocabulary are not handedness-specific)."""
    return tf.image.stateless_random_flip_left_right(image, seed=seed)


def colour_jitter(image: tf.Tensor, *, seed: tf.Tensor, strength: float = 0.1) -> tf.Tensor:
    """Mild brightness / contrast / saturation jitter; kept small because colours are tags (``red_hair``)."""
    if strength <= 0:
        return image
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    image = tf.image.stateless_random_brightness(image, strength, seed=seeds[0])
    image = tf.image.stateless_random_contrast(image, 1 - strength, 1 + strength, seed=seeds[1])
    image = tf.image.stateless_random_saturation(image, 1 - strength, 1 + strength, seed=seeds[2])
    return tf.clip_by_value(image, 0.0, 1.0)


def _resize(image: tf.Tensor, size: int) -> tf.Tensor:
    image = tf.image.convert_image_dtype(image, tf.float32)
    image = tf.image.resize(image, [size, size], antialias=True)
    return tf.clip_by_value(image, 0.0, 1.0)
