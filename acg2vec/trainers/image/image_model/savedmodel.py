"""acg2vec's own exports: a SavedModel written by ``acg2vec train`` (its signatures decode and resize the bytes
themselves), with ``selected_tags.csv`` and ``thresholds.json`` beside it (embedding-only for illust2vec)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from acg2vec.datasets.acg_illustrations.schema import SELECTED_TAGS_FILE
from acg2vec.datasets.acg_illustrations.selected_tags import THRESHOLDS_FILE, TagVocabulary, read_thresholds
from acg2vec.errors import UserError
from acg2vec.imaging import ImageDrop
from acg2vec.integrity import DamagedFileError
from acg2vec.trainers.image.export import EXPORT_INFO_FILE, repair_command
from acg2vec.trainers.image.image_model.base import ImageModel, check_outputs
from acg2vec.vocabularies import RATINGS


@contextlib.contextmanager
def _unreadable_is_damage(path: Path) -> Iterator[None]:
    """A file of an export from before CHECKSUMS.json that does not parse is damage, named in one sentence."""
    try:
        yield
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as err:
        raise DamagedFileError(
            path,
            f"it does not read as the file acg2vec wrote ({type(err).__name__}: {str(err)[:120]})",
            lost="the model cannot be used",
            repair=repair_command(path.parent),
        ) from None


class SavedModelImageModel(ImageModel):
    """A SavedModel exported by ``acg2vec train`` (signatures ``serving_default``, ``embed``, ``heads``)."""

    __slots__ = ("_signatures",)

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        try:
            loaded = tf.saved_model.load(str(path))
        except (OSError, ValueError, tf.errors.OpError) as err:
            raise DamagedFileError(
                path,
                f"TensorFlow cannot load its SavedModel: {str(err).splitlines()[0][:200]}",
                lost="the model cannot be used",
                repair=repair_command(path),
            ) from None
        info_path = path / EXPORT_INFO_FILE
        with _unreadable_is_damage(info_path):
            size = json.loads(info_path.read_text(encoding="utf-8"))["image_size"] if info_path.is_file() else 0
        super().__init__(path=str(path), kind="acg2vec", image_size=int(size))
        self._signatures = dict(loaded.signatures)
        self._signatures["_loaded"] = loaded  # keeps the variables alive
        if "probabilities" in self._outputs("serving_default"):
            if not (path / SELECTED_TAGS_FILE).is_file():
                raise UserError(f"{path} has tag outputs but no {SELECTED_TAGS_FILE} naming them.")
            with _unreadable_is_damage(path / SELECTED_TAGS_FILE):
                vocab = TagVocabulary.read(str(path / SELECTED_TAGS_FILE))
            n_outputs = self._signatures["serving_default"].structured_outputs["probabilities"].shape[-1]
            if n_outputs is not None:
                check_outputs(path, SELECTED_TAGS_FILE, len(vocab), int(n_outputs))
            self.tag_names, self.tag_categories, self.tag_counts = vocab.names, vocab.categories, vocab.counts
            with _unreadable_is_damage(path / THRESHOLDS_FILE):
                tuned = read_thresholds(str(path), vocab.names)
            self.thresholds = tuned[0] if tuned else None
        if "rating" in self._outputs("heads"):
            self.rating_names = list(RATINGS)

    def _outputs(self, signature: str) -> dict:
        fn = self._signatures.get(signature)
        return dict(fn.structured_outputs) if fn is not None else {}

    def _run(self, signature: str, output: str, images: list[bytes]) -> np.ndarray:
        import tensorflow as tf

        try:
            result = self._signatures[signature](image_bytes=tf.constant(list(images)))[output]
        except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as err:
            raise ImageDrop("image-corrupt", str(err.message).splitlines()[0][:300]) from err
        return result.numpy().astype(np.float32)

    @property
    def has_embedding(self) -> bool:
        return "embed" in self._signatures

    def tag_probabilities(self, images: list[bytes]) -> np.ndarray:
        if not self.has_tags:
            return super().tag_probabilities(images)
        return self._run("serving_default", "probabilities", images)

    def embed(self, images: list[bytes]) -> np.ndarray:
        if not self.has_embedding:
            return super().embed(images)
        return self._run("embed", "embedding", images)

    def rating(self, images: list[bytes]) -> np.ndarray:
        if not self.has_rating:
            return super().rating(images)
        return self._run("heads", "rating", images)
