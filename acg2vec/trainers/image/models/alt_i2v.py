"""The alt-i2v tagger: a VGG16 backbone, a dense head with batch norm and 30 % dropout, sigmoid over the tags."""

from __future__ import annotations

from pathlib import Path

from acg2vec.errors import UserError

DEFAULT_IMAGE_SIZE = 224
EMBEDDING_LAYER = "embedding_relu"


def make_model(
    input_shape: tuple[int, int, int],
    num_tags: int,
    *,
    weights: str | None = None,
    hidden: int = 1024,
    dropout: float = 0.3,
    width: float = 1.0,
):
    """alt-i2v on float images in [0, 1]. ``weights``: a local VGG16 no-top weights file, else random init.

    Nothing is downloaded: ImageNet weights are used only when the user has the file. ``width`` below 1 builds the
    same 13-convolution VGG16 layout with that share of the channels and batch norm after each convolution (a
    small config for CPUs and small data; a thin VGG without batch norm barely trains from scratch).
    """
    import keras
    from keras import layers

    if weights is not None and not Path(weights).is_file():
        raise UserError(f"The VGG16 weights file {weights} does not exist.")
    inputs = keras.Input(input_shape, name="image")
    # VGG16 expects caffe-style inputs (BGR, 0-255, ImageNet means subtracted); keep that inside the model so
    # the pipeline and the serving signature both feed plain [0, 1] RGB.
    x = layers.Rescaling(255.0, name="to_255")(inputs)
    x = layers.Lambda(keras.applications.vgg16.preprocess_input, name="vgg16_preprocess")(x)
    if width != 1.0:
        if weights is not None:
            raise UserError("VGG16 weights fit only the full-width alt-i2v (--width 1).")
        x = _small_vgg(x, width)
        backbone = None
    else:
        backbone = keras.applications.VGG16(include_top=False, weights=None, input_shape=input_shape)
    if weights is not None:
        try:
            backbone.load_weights(str(weights))
        except (OSError, ValueError) as err:
            raise UserError(f"Cannot load VGG16 weights from {weights}: {err}") from err
    if backbone is not None:
        x = backbone(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(hidden, use_bias=False, name="embedding_dense")(x)
    x = layers.BatchNormalization(name="embedding_bn")(x)
    x = layers.Activation("relu", name=EMBEDDING_LAYER)(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_tags, activation="sigmoid", dtype="float32", name="tags")(x)
    return keras.Model(inputs, outputs, name="alt_i2v")


# VGG16's stages: (convolutions, channels).
VGG16_STAGES = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def _small_vgg(x, width: float):
    from keras import layers

    for stage, (convs, channels) in enumerate(VGG16_STAGES, start=1):
        filters = max(int(channels * width), 8)
        for i in range(1, convs + 1):
            name = f"block{stage}_conv{i}"
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
            x = layers.Activation("relu", name=f"{name}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
    return x


def feature_tensor(model):
    return model.get_layer(EMBEDDING_LAYER).output
