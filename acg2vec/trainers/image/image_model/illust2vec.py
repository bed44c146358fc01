"""An illustration2vec-style export: one ``.onnx``, ``.keras`` or ``.h5`` model and no tag file is a feature model
(``embed``); with ``tag_list.json`` beside it, a tag model too. Input BGR float in [0, 255] minus the Caffe mean,
at the model's size, NCHW or NHWC as the model's input says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from acg2vec.errors import UserError
from acg2vec.trainers.image.image_model.base import ImageModel, check_outputs, onnx_session, pixels, static_dim
from acg2vec.trainers.image.models import deepdanbooru

# illustration2vec's Caffe mean pixel, BGR, subtracted from 0-255 inputs.
I2V_MEAN_BGR = (164.76139251, 167.47864617, 181.13838569)
I2V_IMAGE_SIZE = 224
# illustration2vec's tag_list.json: 512 general, 512 character, 512 copyright tags, then the ratings.
I2V_CATEGORY_BLOCKS = (("general", 512), ("character", 512), ("copyright", 512))


def _runner(model_file: Path):
    """(run(batch) -> outputs, input shape, output width or None) of an ONNX or Keras model file."""
    if model_file.suffix == ".onnx":
        session = onnx_session(model_file)
        model_input = session.get_inputs()[0]

        def run_onnx(batch: np.ndarray) -> np.ndarray:
            return session.run(None, {model_input.name: batch})[0]

        return run_onnx, list(model_input.shape), static_dim(session.get_outputs()[0].shape[-1])
    model = deepdanbooru.load_file(str(model_file))

    def run_keras(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_on_batch(batch))

    return run_keras, [None, *model.inputs[0].shape[1:]], static_dim(model.outputs[0].shape[-1])


class Illust2VecImageModel(ImageModel):
    """An illustration2vec-style export (ONNX or Keras): a feature model, and a tag model with ``tag_list.json``."""

    __slots__ = ("_run_fn", "_channels_first", "_n_outputs", "_rating_columns", "model_file")

    def __init__(self, path: Path, model_file: Path) -> None:
        run, shape, out_dim = _runner(model_file)
        if len(shape) != 4 or 3 not in (static_dim(shape[1]), static_dim(shape[3])):
            raise UserError(f"{model_file} does not take colour images (its input is {shape}).")
        channels_first = static_dim(shape[1]) == 3
        size = static_dim(shape[2]) or I2V_IMAGE_SIZE
        super().__init__(path=str(path), kind="illust2vec", image_size=int(size))
        self.model_file = str(model_file)
        self._run_fn, self._channels_first, self._n_outputs = run, channels_first, out_dim
        self._rating_columns = []
        tag_list = path / "tag_list.json"
        if tag_list.is_file():
            names = json.loads(tag_list.read_text(encoding="utf-8"))
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise UserError(f"{tag_list} must be a JSON list of tag names.")
            if out_dim is not None:
                check_outputs(path, "tag_list.json", len(names), out_dim)
            self.tag_names = names
            self.tag_categories = _i2v_categories(len(names))
            self.tag_counts = [0] * len(names)
            self._rating_columns = [i for i, c in enumerate(self.tag_categories) if c == "rating"]
            self.rating_names = [names[i] for i in self._rating_columns]

    @property
    def has_embedding(self) -> bool:
        return not self.has_tags

    def _outputs(self, images: list[bytes]) -> np.ndarray:
        # illustration2vec's Caffe input: BGR, 0-255 minus the mean pixel.
        batch = pixels(images, self.image_size, pad="white")[..., ::-1] - np.array(I2V_MEAN_BGR, np.float32)
        if self._channels_first:
            batch = batch.transpose(0, 3, 1, 2)
        return np.asarray(self._run_fn(np.ascontiguousarray(batch, dtype=np.float32)), dtype=np.float32)

    def embed(self, images: list[bytes]) -> np.ndarray:
        if not self.has_embedding:
            return super().embed(images)
        return self._outputs(images).reshape(len(images), -1)

    def tag_probabilities(self, images: list[bytes]) -> np.ndarray:
        if not self.has_tags:
            return super().tag_probabilities(images)
        return self._outputs(images)

    def rating(self, images: list[bytes]) -> np.ndarray:
        if not self.has_rating:
            return super().rating(images)
        return self._outputs(images)[:, self._rating_columns]


def _i2v_categories(n: int) -> list[str]:
    """illustration2vec's fixed blocks when the list has its shape (1,539 = 3 x 512 + 3 ratings), else general."""
    blocks = sum(size for _, size in I2V_CATEGORY_BLOCKS)
    if n <= blocks:
        return ["general"] * n
    out = [category for category, size in I2V_CATEGORY_BLOCKS for _ in range(size)]
    return out + ["rating"] * (n - blocks)
