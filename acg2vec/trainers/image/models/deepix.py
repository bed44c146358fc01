"""deepix: a shared encoder (the DeepDanbooru network cut at a named layer) and one head per task.

Each head is a ResNet bottleneck block + pooling + its output layer: ``tags`` (sigmoid), ``rating`` (4-way
softmax) and ``popularity`` (log1p regression of score, pixiv views and bookmarks). The encoder learns with a
small learning rate and the heads with a large one, through two optimizers in a custom ``train_step``.
"""

from __future__ import annotations

import keras

from acg2vec.errors import UserError
from acg2vec.trainers.image.input_pipeline import POPULARITY_FEATURES
from acg2vec.trainers.image.models import deepdanbooru
from acg2vec.vocabularies import RATINGS

DEFAULT_IMAGE_SIZE = 512
DEFAULT_ENCODER_LAYER = "activation_96"  # where the original deepix cuts DeepDanbooru v3
ENCODER = "encoder"


@keras.saving.register_keras_serializable(package="acg2vec")
class DeepixModel(keras.Model):
    """A functional model whose ``encoder`` sub-model is updated by its own optimizer (its own learning rate)."""

    def __init__(self, *args, encoder_learning_rate: float = 1e-5, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.encoder_learning_rate = encoder_learning_rate
        self.encoder_optimizer = keras.optimizers.Adam(encoder_learning_rate, name="encoder_adam")

    def compile(self, *args, **kwargs) -> None:
        super().compile(*args, **kwargs)
        # Built now so that its slots exist before BackupAndRestore loads a checkpoint into them.
        self.encoder_optimizer.build(self.get_layer(ENCODER).trainable_variables)

    def train_step(self, data):
        import tensorflow as tf

        x, y = data[0], data[1]
        encoder_vars = self.get_layer(ENCODER).trainable_variables
        encoder_ids = {id(v) for v in encoder_vars}
        head_vars = [v for v in self.trainable_variables if id(v) not in encoder_ids]
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
        grads = tape.gradient(loss, encoder_vars + head_vars)
        self.encoder_optimizer.apply_gradients(zip(grads[: len(encoder_vars)], encoder_vars, strict=True))
        self.optimizer.apply_gradients(zip(grads[len(encoder_vars) :], head_vars, strict=True))
        # The total-loss tracker is the one metric compute_metrics does not update itself.
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
        return self.compute_metrics(x, y, y_pred)

    def get_config(self) -> dict:
        return {**super().get_config(), "encoder_learning_rate": self.encoder_learning_rate}


def make_encoder(
    input_shape: tuple[int, int, int],
    *,
    layer: str = DEFAULT_ENCODER_LAYER,
    version: str = "v3",
    width: float = 1.0,
    depth: float = 1.0,
    init_from: str | None = None,
):
    """The DeepDanbooru trunk (or a DeepDanbooru file's) up to ``layer``, as a sub-model named ``encoder``."""
    if init_from:
        base = deepdanbooru.load_file(init_from)
    else:
        inputs = keras.Input(input_shape, name="image")
        base = keras.Model(inputs, deepdanbooru.backbone(inputs, version=version, width=width, depth=depth))
    names = [item.name for item in base.layers]
    if layer not in names:
        activations = [n for n in names if n.startswith("activation")]
        raise UserError(
            f"The encoder has no layer '{layer}'; its activations run from {activations[0]} to {activations[-1]}."
        )
    return keras.Model(base.inputs[0], base.get_layer(layer).output, name=ENCODER)


def _head(x, filters: int, name: str):
    from keras import layers

    namer = deepdanbooru._Namer()
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_in")(x)
    block = deepdanbooru.bottleneck(x, filters, namer, project=False)
    return layers.GlobalAveragePooling2D(name=f"{name}_pool")(block)


def make_model(
    input_shape: tuple[int, int, int],
    num_tags: int,
    *,
    encoder_layer: str = DEFAULT_ENCODER_LAYER,
    version: str = "v3",
    width: float = 1.0,
    depth: float = 1.0,
    head_filters: int = 512,
    encoder_learning_rate: float = 1e-5,
    init_from: str | None = None,
):
    """deepix on float images in [0, 1]; outputs a dict ``tags`` / ``rating`` / ``popularity``."""
    from keras import layers

    encoder = make_encoder(
        input_shape, layer=encoder_layer, version=version, width=width, depth=depth, init_from=init_from
    )
    inputs = keras.Input(input_shape, name="image")
    features = encoder(inputs)
    outputs = {}
    # Each head is its own small model, so the same layer names can repeat across heads.
    for task, units, activation in (
        ("tags", num_tags, "sigmoid"),
        ("rating", len(RATINGS), "softmax"),
        ("popularity", len(POPULARITY_FEATURES), None),
    ):
        head_in = keras.Input(features.shape[1:], name=f"{task}_features")
        pooled = _head(head_in, head_filters, task)
        head = keras.Model(head_in, pooled, name=f"{task}_head")
        outputs[task] = layers.Dense(units, activation=activation, dtype="float32", name=task)(head(features))
    return DeepixModel(inputs, outputs, encoder_learning_rate=encoder_learning_rate, name="deepix")


def feature_tensor(model):
    """The encoder's feature map (illust2vec pools it into the embedding)."""
    return model.get_layer(ENCODER).output
