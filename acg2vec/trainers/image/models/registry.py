"""Image models by name: how to build each, its default image size, and where its embedding comes from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from acg2vec.errors import UserError
from acg2vec.trainers.image.models import alt_i2v, deepdanbooru, deepix


@dataclass(slots=True, frozen=True)
class ModelSpec:
    name: str
    build: Callable  # build(input_shape, num_tags, **options) -> keras.Model
    feature_tensor: Callable  # feature_tensor(model) -> the tensor the embedding pools
    image_size: int
    learning_rate: float
    task: str  # "tags" or "deepix" (input pipeline targets)


MODELS: dict[str, ModelSpec] = {
    "alt_i2v": ModelSpec(
        "alt_i2v", alt_i2v.make_model, alt_i2v.feature_tensor, alt_i2v.DEFAULT_IMAGE_SIZE, 1e-3, "tags"
    ),
    "deepdanbooru": ModelSpec(
        "deepdanbooru",
        deepdanbooru.make_model,
        deepdanbooru.feature_tensor,
        deepdanbooru.DEFAULT_IMAGE_SIZE,
        1e-3,
        "tags",
    ),
    # Heads learn at 1e-2; the encoder's 1e-5 is the model's own encoder_learning_rate option.
    "deepix": ModelSpec("deepix", deepix.make_model, deepix.feature_tensor, deepix.DEFAULT_IMAGE_SIZE, 1e-2, "deepix"),
}
TAGGERS = ("alt_i2v", "deepdanbooru")


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
