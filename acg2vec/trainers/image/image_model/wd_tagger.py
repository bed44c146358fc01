"""A WD-style tagger folder: ``model.onnx`` + ``selected_tags.csv`` (``tag_id,name,category,count``; booru
category codes 0 general, 4 character, 9 rating). Input BGR float in [0, 255], NHWC, the picture padded to a
white square; run with onnxruntime. The category-9 outputs are its rating."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acg2vec.datasets.acg_illustrations.schema import SELECTED_TAGS_FILE
from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary
from acg2vec.errors import UserError
from acg2vec.trainers.image.image_model.base import ImageModel, check_outputs, onnx_session, pixels, static_dim

# Thresholds WD-style taggers are commonly run with (general tags; characters need more certainty).
WD_THRESHOLDS = {"general": 0.35, "character": 0.85}


class WDTaggerImageModel(ImageModel):
    """A WD-style tagger folder: ``model.onnx`` + ``selected_tags.csv``, run with onnxruntime."""

    __slots__ = ("_session", "_input", "_rating_columns")

    def __init__(self, path: Path) -> None:
        vocab = TagVocabulary.read(str(path / SELECTED_TAGS_FILE))
        session = onnx_session(path / "model.onnx")
        model_input = session.get_inputs()[0]
        shape = list(model_input.shape)
        if len(shape) != 4 or static_dim(shape[3]) != 3 or static_dim(shape[1]) is None:
            raise UserError(f"{path / 'model.onnx'} does not take NHWC colour images (its input is {shape}).")
        n_outputs = static_dim(session.get_outputs()[0].shape[-1])
        if n_outputs is not None:
            check_outputs(path, SELECTED_TAGS_FILE, len(vocab), n_outputs)
        thresholds = [WD_THRESHOLDS.get(c, WD_THRESHOLDS["general"]) for c in vocab.categories]
        super().__init__(
            path=str(path),
            kind="wd-tagger",
            image_size=int(shape[1]),
            tag_names=vocab.names,
            tag_categories=vocab.categories,
            tag_counts=vocab.counts,
            thresholds=np.array(thresholds, np.float32),
        )
        self._session, self._input = session, model_input.name
        self._rating_columns = [i for i, c in enumerate(vocab.categories) if c == "rating"]
        self.rating_names = [vocab.names[i] for i in self._rating_columns]

    def _outputs(self, images: list[bytes]) -> np.ndarray:
        # RGB -> BGR, 0-255 floats, NHWC: the WD taggers' training input.
        bgr = pixels(images, self.image_size, pad="white")[..., ::-1]
        out = self._session.run(None, {self._input: np.ascontiguousarray(bgr)})[0]
        if out.shape[-1] != len(self.tag_names):
            check_outputs(Path(self.path), SELECTED_TAGS_FILE, len(self.tag_names), int(out.shape[-1]))
        return out.astype(np.float32)

    def tag_probabilities(self, images: list[bytes]) -> np.ndarray:
        return self._outputs(images)

    def rating(self, images: list[bytes]) -> np.ndarray:
        if not self.has_rating:
            return super().rating(images)
        return self._outputs(images)[:, self._rating_columns]
