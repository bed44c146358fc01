"""illust2vec: the deepix encoder with global average pooling, exported on its own as an embedding model."""

from __future__ import annotations


def from_deepix(deepix_model):
    """The embedding model (image in [0, 1] -> pooled encoder features) sharing deepix's encoder weights."""
    import keras
    from keras import layers

    encoder = deepix_model.get_layer("encoder")
    inputs = keras.Input(encoder.inputs[0].shape[1:], name="image")
    outputs = layers.GlobalAveragePooling2D(name="embedding")(encoder(inputs))
    return keras.Model(inputs, outputs, name="illust2vec")
