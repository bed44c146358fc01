"""The served models: where ``serve`` finds its image models (loaded by
:func:`acg2vec.trainers.image.image_model.load_image_model`), and the acgvoc2vec sentence-transformers encoder."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acg2vec.errors import UserError
from acg2vec.trainers.image import predict
from acg2vec.trainers.text.normalize import NORMALIZATION, normalizer

log = logging.getLogger(__name__)

TEXT_MODEL = "acgvoc2vec"


def find_image_model(models_dir: str, preference: tuple[str, ...]) -> str | None:
    """The first folder of ``preference`` under ``models_dir`` that holds an image model in a known layout."""
    found = predict.image_models(models_dir, preference)
    return found[0] if found else None


def is_sentence_transformer(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "modules.json")) or os.path.isfile(
        os.path.join(path, "config_sentence_transformers.json")
    )


@dataclass(slots=True)
class Encoded:
    """Unit vectors of texts, and for each text whether the tokenizer cut it to the model's length."""

    vectors: np.ndarray
    truncated: list[bool]
    max_tokens: int


class TextModel:
    """An acgvoc2vec (sentence-transformers) folder: unit vectors of texts, cut at the model's token length.

    Texts are script-normalised first, as ``eval texts``' :class:`~acg2vec.evaluation.text_search.TextSearcher`
    does (idempotent, so an acgvoc2vec folder that normalises again inside sees the same input): the served
    vectors are the evaluated ones, for any sentence-transformers folder."""

    def __init__(self, path: str) -> None:
        if not is_sentence_transformer(path):
            raise UserError(f"no sentence-transformers model at {path}; train one with `acg2vec train text`.")
        # acgvoc2vec folders name acg2vec's own input module (script normalisation); load_encoder builds them
        # without trust_remote_code, and plain sentence-transformers folders the ordinary way.
        from acg2vec.trainers.text.input_module import load_encoder

        self._normalize = normalizer(NORMALIZATION)
        self.path = path
        self.name = Path(path).name
        self.model = load_encoder(path, device="cpu")
        self.max_tokens = int(self.model.max_seq_length or 512)
        dim_of = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim_of())

    def encode(self, texts: list[str], *, batch_size: int = 64) -> Encoded:
        normalized = [self._normalize(t) for t in texts]
        vectors = self.model.encode(
            normalized,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32)
        return Encoded(vectors, self._cut(normalized), self.max_tokens)

    def _cut(self, normalized: list[str]) -> list[bool]:
        """Which texts have more tokens than the model reads (the tokenizer keeps the first ``max_tokens``)."""
        lengths = self.model.tokenizer(normalized, add_special_tokens=True, truncation=False)["input_ids"]
        return [len(ids) > self.max_tokens for ids in lengths]
