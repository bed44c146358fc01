"""The DeepDanbooru ResNet family (resnet_custom v1-v4): bottleneck stacks, a 1x1 convolution to one channel per
tag, global average pooling and a sigmoid.

Layers are named the way a fresh Keras session names them in the original (``activation``, ``activation_1``, ...),
so the layer names that deepix cuts at (``activation_96``) mean the same thing in a model built here and in a
DeepDanbooru model file loaded with ``init_from``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from acg2vec.errors import UserError

# Stage output widths and extra blocks per stage, from the DeepDanbooru model definitions.
VERSIONS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "v1": ((256, 512, 1024, 2048, 4096), (2, 7, 35, 2, 2)),
    "v2": ((256, 512, 1024, 1024, 1024, 2048), (2, 7, 40, 16, 16, 6)),
    "v3": ((256, 512, 1024, 1024, 2048, 4096), (2, 7, 19, 19, 2, 2)),
    "v4": ((256, 512, 1024, 1024, 1024, 2048), (2, 7, 10, 10, 10, 2)),
}
HEAD_CONV = "tags_conv"
DEFAULT_IMAGE_SIZE = 512


class _Namer:
    """Keras-2-style names: the first layer of a kind gets the bare name, the next ``<kind>_1``, ..."""

    def __init__(self, *, bn_momentum: float = 0.99) -> None:
        self._counters: dict[str, itertools.count] = {}
        # Carried with the names so every block of one network uses the same batch-norm momentum.
        self.bn_momentum = bn_momentum

    def __call__(self, kind: str) -> str:
        n = next(self._counters.setdefault(kind, itertools.count()))
        return kind if n == 0 else f"{kind}_{n}"


def _conv_bn(x, filters: int, kernel: int, namer: _Namer, *, strides: int = 1, zero_gamma: bool = False):
    from keras import layers

    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=namer("conv2d"))(x)
    return layers.BatchNormalization(
        momentum=namer.bn_momentum,
        gamma_initializer="zeros" if zero_gamma else "ones",
        name=namer("batch_normalization"),
    )(x)


def _relu(x, namer: _Namer):
    from keras import layers

    return layers.Activation("relu", name=namer("activation"))(x)


def bottleneck(x, filters: int, namer: _Namer, *, strides: int = 1, project: bool = False, activation: bool = True):
    """A ResNet bottleneck block: 1x1 -> 3x3 -> 1x1 (zero-initialised gamma, so the block starts as identity)."""
    from keras import layers

    inner = max(filters // 4, 1)
    y = _relu(_conv_bn(x, inner, 1, namer), namer)
    y = _relu(_conv_bn(y, inner, 3, namer, strides=strides), namer)
    y = _conv_bn(y, filters, 1, namer, zero_gamma=True)
    shortcut = _conv_bn(x, filters, 1, namer, strides=strides) if project else x
    y = layers.Add(name=namer("add"))([y, shortcut])
    return _relu(y, namer) if activation else y


def backbone(inputs, *, version: str = "v3", width: float = 1.0, depth: float = 1.0, namer: _Namer | None = None):
    """The convolutional trunk of ``version``; ``width`` / ``depth`` scale it down for tests and small data."""
    from keras import layers

    if version not in VERSIONS:
        raise ValueError(f"unknown DeepDanbooru version {version!r}; choose one of {sorted(VERSIONS)}")
    namer = namer or _Namer()
    filters, repeats = VERSIONS[version]
    filters = [max(int(f * width), 8) for f in filters]
    repeats = [max(int(round(r * depth)), 1) for r in repeats]
    x = _relu(_conv_bn(inputs, filters[0] // 4, 7, namer, strides=2), namer)
    x = layers.MaxPool2D(3, strides=2, padding="same", name=namer("max_pooling2d"))(x)
    for stage, (f, r) in enumerate(zip(filters, repeats, strict=True)):
        x = bottleneck(x, f, namer, strides=2 if stage > 0 else 1, project=True)
        for _ in range(r):
            x = bottleneck(x, f, namer)
    return x


def make_model(
    input_shape: tuple[int, int, int],
    num_tags: int,
    *,
    version: str = "v3",
    width: float = 1.0,
    depth: float = 1.0,
    bn_momentum: float = 0.99,
    head_batch_norm: bool = True,
    init_from: str | None = None,
):
    """A DeepDanbooru tagger taking float images in [0, 1]; ``init_from`` starts from a DeepDanbooru .h5 file.

    ``bn_momentum`` below the default 0.99 lets batch-norm statistics settle within a short run on small data.
    ``head_batch_norm=False`` replaces the original head's batch norm by a bias on the 1x1 convolution: batch norm
    pins each tag's logits within a batch to mean beta and spread gamma, so confident scores wait until gamma has
    grown, which a short run never reaches (the original trains for days).
    """
    import keras

    if init_from:
        return load_deepdanbooru_file(init_from, num_tags)
    inputs = keras.Input(input_shape, name="image")
    namer = _Namer(bn_momentum=bn_momentum)
    x = backbone(inputs, version=version, width=width, depth=depth, namer=namer)
    outputs = _tag_head(x, num_tags, bn_momentum=bn_momentum, batch_norm=head_batch_norm)
    return keras.Model(inputs, outputs, name=f"deepdanbooru_{version}")


def _tag_head(x, num_tags: int, *, bn_momentum: float = 0.99, batch_norm: bool = True):
    from keras import layers

    x = layers.Conv2D(num_tags, 1, use_bias=not batch_norm, name=HEAD_CONV)(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=bn_momentum, name="tags_bn")(x)
    x = layers.GlobalAveragePooling2D(name="tags_pool")(x)
    # float32 output even under mixed precision: probabilities near 0 and 1 underflow in float16.
    return layers.Activation("sigmoid", dtype="float32", name="tags")(x)


def load_file(path: str):
    """A DeepDanbooru Keras model file (.h5 or .keras) as saved by DeepDanbooru or by acg2vec; a DeepDanbooru
    release folder (or an acg2vec tagger folder) stands for its model file."""
    import keras

    from acg2vec.trainers.image.export import verify_model_folder

    # An acg2vec tagger folder (or its model.keras): the folder's files are checked before Keras reads one.
    verify_model_folder(path if Path(path).is_dir() else Path(path).parent)
    path = model_file(path)
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as err:
        raise UserError(f"Cannot load the DeepDanbooru model file {path}: {err}") from err


def load_deepdanbooru_file(path: str, num_tags: int):
    """Load a DeepDanbooru Keras model file; a new tag head replaces its own when the tag count differs."""
    import keras

    model = load_file(path)
    if model.outputs[0].shape[-1] == num_tags:
        return model
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    features = convs[-1].input
    return keras.Model(model.inputs, _tag_head(features, num_tags), name=f"{model.name}_retagged")


def feature_tensor(model):
    """The feature map that feeds the tag head (the input of the last 1x1 convolution)."""
    import keras

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    return convs[-1].input


def release_model_file(folder: Path) -> Path | None:
    """The ``model-*.h5`` of a DeepDanbooru project folder, or None."""
    # Newest network version first when a folder holds several.
    found = sorted(folder.glob("model-*.h5"), reverse=True)
    return found[0] if found else None


def model_file(path: str | Path) -> str:
    """The Keras file to start from: ``path`` itself, or the ``model-*.h5`` of a DeepDanbooru project folder."""
    candidate = Path(path)
    if candidate.is_dir():
        found = release_model_file(candidate) or (
            candidate / "model.keras" if (candidate / "model.keras").is_file() else None
        )
        if found is None:
            raise UserError(f"{candidate} holds no DeepDanbooru model file (model-*.h5) nor an acg2vec model.keras.")
        return str(found)
    if not candidate.is_file():
        raise UserError(f"No DeepDanbooru model file at {candidate}.")
    return str(candidate)
