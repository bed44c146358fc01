"""A DeepDanbooru release project folder: ``model-resnet_custom_v3.h5`` (or v4, any ``model-*.h5``), ``tags.txt``
in output order, ``tags-general.txt`` / ``tags-character.txt``, ``project.json`` with ``image_width`` /
``image_height``. Input RGB float in [0, 1], the picture scaled into the square and padded with its edge pixels.
``rating:*`` tags, where the release has them, are its rating outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acg2vec.errors import UserError
from acg2vec.trainers.image.image_model.base import ImageModel, check_outputs, pixels, read_json
from acg2vec.trainers.image.models import deepdanbooru

DEEPDANBOORU_THRESHOLD = 0.5  # DeepDanbooru's own default


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _categories(path: Path, names: list[str]) -> list[str]:
    general = set(_read_lines(path / "tags-general.txt")) if (path / "tags-general.txt").is_file() else set()
    character = set(_read_lines(path / "tags-character.txt")) if (path / "tags-character.txt").is_file() else set()

    def category(name: str) -> str:
        if name.startswith("rating:"):
            return "rating"
        if name in character:
            return "character"
        return "general" if name in general or not general else "meta"

    return [category(name) for name in names]


class DeepDanbooruImageModel(ImageModel):
    """A DeepDanbooru project folder as its releases ship it (Keras .h5, tags.txt, project.json)."""

    __slots__ = ("_model", "_embed_model", "_rating_columns", "model_file")

    def __init__(self, path: Path, model_file: Path) -> None:
        project = read_json(path / "project.json")
        width, height = project.get("image_width"), project.get("image_height")
        if not isinstance(width, int) or width != height:
            raise UserError(f"{path / 'project.json'} needs equal integer image_width and image_height.")
        names = _read_lines(path / "tags.txt")
        categories = _categories(path, names)
        super().__init__(
            path=str(path),
            kind="deepdanbooru",
            image_size=width,
            tag_names=names,
            tag_categories=categories,
            tag_counts=[0] * len(names),
            thresholds=np.full(len(names), DEEPDANBOORU_THRESHOLD, np.float32),
        )
        self.model_file = str(model_file)
        self._model = deepdanbooru.load_file(str(model_file))
        check_outputs(path, "tags.txt", len(names), int(self._model.outputs[0].shape[-1]))
        self._embed_model = None
        self._rating_columns = [i for i, c in enumerate(categories) if c == "rating"]
        self.rating_names = [names[i].removeprefix("rating:") for i in self._rating_columns]

    @property
    def has_embedding(self) -> bool:
        return True

    def _pixels(self, images: list[bytes]) -> np.ndarray:
        # DeepDanbooru scales the picture into the square and pads it with its edge pixels, then divides by 255.
        return pixels(images, self.image_size, pad="edge") / 255.0

    def tag_probabilities(self, images: list[bytes]) -> np.ndarray:
        return np.asarray(self._model.predict_on_batch(self._pixels(images)), dtype=np.float32)

    def embed(self, images: list[bytes]) -> np.ndarray:
        if self._embed_model is None:
            import keras

            pooled = keras.layers.GlobalAveragePooling2D(name="embedding")(deepdanbooru.feature_tensor(self._model))
            self._embed_model = keras.Model(self._model.inputs[0], pooled)
        return np.asarray(self._embed_model.predict_on_batch(self._pixels(images)), dtype=np.float32)

    def rating(self, images: list[bytes]) -> np.ndarray:
        if not self.has_rating:
            return super().rating(images)
        scores = self.tag_probabilities(images)[:, self._rating_columns]
        return scores / np.maximum(scores.sum(axis=1, keepdims=True), 1e-12)
