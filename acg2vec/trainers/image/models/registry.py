"""Image models by name: how to build each, its default image size, and where its embedding comes from.

Light to import (the CLI reads the names for its options and help): a model's module, and Keras with it, is
imported only when its builder, feature tensor or image size is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from acg2vec.errors import UserError

# Exported image models are folders under <workdir>/models. When a command is given no model, it takes the first
# of these that holds one: a tagger for tags, an embedder for vectors, a rater for the rating head.
TAGGER_PREFERENCE = ("deepdanbooru", "alt_i2v", "deepix")
EMBEDDER_PREFERENCE = ("illust2vec", "deepix", "deepdanbooru", "alt_i2v")
RATER_PREFERENCE = ("deepix",)


@dataclass(slots=True, frozen=True)
class ModelSpec:
    """A trainable network; its code is the module of the same name in :mod:`acg2vec.trainers.image.models`."""

    name: str
    learning_rate: float  # the peak learning rate when the config gives none
    task: str  # "tags" (trained by `train tagger`) or "deepix" (`train deepix`): the input pipeline's targets

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(f"acg2vec.trainers.image.models.{self.name}")

    @property
    def build(self) -> Callable:
        """``build(input_shape, num_tags, **options) -> keras.Model``."""
        return self.module.make_model

    @property
    def feature_tensor(self) -> Callable:
        """``feature_tensor(model)``: the tensor the embedding pools."""
        return self.module.feature_tensor

    @property
    def image_size(self) -> int:
        return self.module.DEFAULT_IMAGE_SIZE


MODELS: dict[str, ModelSpec] = {
    "alt_i2v": ModelSpec("alt_i2v", 1e-3, "tags"),
    "deepdanbooru": ModelSpec("deepdanbooru", 1e-3, "tags"),
    # Heads learn at 1e-2; the encoder's 1e-5 is the model's own encoder_learning_rate option.
    "deepix": ModelSpec("deepix", 1e-2, "deepix"),
}


def names(task: str) -> tuple[str, ...]:
    """The registered models trained for ``task`` ("tags" or "deepix")."""
    return tuple(name for name, spec in MODELS.items() if spec.task == task)


def get(name: str) -> ModelSpec:
    if name not in MODELS:
        raise UserError(f"Unknown model '{name}'; choose one of {', '.join(sorted(MODELS))}.")
    return MODELS[name]


def make_model(name: str, *, image_size: int, num_tags: int, **options):
    """Build the registered model ``name`` for square ``image_size`` RGB inputs in [0, 1]."""
    spec = get(name)
    try:
        return spec.build((image_size, image_size, 3), num_tags, **options)
    except TypeError as err:
        raise UserError(f"Bad option for model '{name}': {err}") from err
