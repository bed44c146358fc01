"""What every loaded image model is: :class:`ImageModel`, its robust batch runner, and the helpers the layouts
share (pixels of encoded images, output-count checks, JSON and ONNX loading)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acg2vec.errors import UserError
from acg2vec.imaging import ImageDrop, decode_bytes, pad_square

# Called with (index in the images given, why) for every image a model cannot read, even alone.
OnBad = Callable[[int, ImageDrop], None]


@dataclass(slots=True)
class ImageModel:
    """A loaded image model: its tag vocabulary and what it can compute on encoded images.

    ``tag_names`` / ``tag_categories`` are in output order; ``thresholds`` per tag (None when the model has
    none of its own); ``rating_names`` the classes ``rating`` scores. Subclasses fill in the computations and
    raise :class:`~acg2vec.imaging.ImageDrop` for bytes they cannot decode.
    """

    path: str
    kind: str
    image_size: int
    tag_names: list[str] = field(default_factory=list)
    tag_categories: list[str] = field(default_factory=list)
    tag_counts: list[int] = field(default_factory=list)
    thresholds: np.ndarray | None = None
    rating_names: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def tags(self) -> list[tuple[str, str]]:
        """(name, category) of every tag output, in output order."""
        return list(zip(self.tag_names, self.tag_categories, strict=True))

    @property
    def has_tags(self) -> bool:
        return bool(self.tag_names)

    @property
    def has_embedding(self) -> bool:
        return False

    @property
    def has_rating(self) -> bool:
        return bool(self.rating_names)

    def tag_probabilities(self, images: list[bytes]) -> np.ndarray:
        """float32 [n, len(tag_names)] in [0, 1]."""
        raise UserError(f"{self.path} is not a tagger (it has no tag outputs); use it with `acg2vec embed`.")

    def embed(self, images: list[bytes]) -> np.ndarray:
        """float32 [n, dim] image vectors."""
        raise UserError(f"{self.path} ({self.kind}) gives no image vectors; use a model with an embedding.")

    def rating(self, images: list[bytes]) -> np.ndarray:
        """float32 [n, len(rating_names)] rating probabilities."""
        raise UserError(f"{self.path} ({self.kind}) does not rate images.")

    def tag_thresholds(self, default: float = 0.5) -> np.ndarray:
        """The per-tag thresholds, or ``default`` everywhere when the model has none."""
        if self.thresholds is None:
            return np.full(len(self.tag_names), default, np.float32)
        return self.thresholds

    def embed_robust(
        self,
        images: list[bytes],
        on_bad: OnBad,
        *,
        compute: Callable[[list[bytes]], np.ndarray] | None = None,
        batch_size: int = 32,
        advance: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run ``compute`` (default :meth:`embed`; or :meth:`tag_probabilities`, :meth:`rating`) over ``images``
        in batches; returns (the outputs of the images that worked, stacked; their mask).

        A batch that fails is retried image by image, and each image that still fails goes to ``on_bad`` (the
        caller dead-letters it), so one bad file never stops an evaluation or an index build. ``advance`` is
        called with the size of each batch (a progress bar).
        """
        compute = compute or self.embed
        outputs: list[np.ndarray | None] = [None] * len(images)
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            try:
                outputs[start : start + len(chunk)] = list(compute(chunk))
            except ImageDrop:
                for offset, data in enumerate(chunk):
                    try:
                        outputs[start + offset] = compute([data])[0]
                    except ImageDrop as drop:
                        on_bad(start + offset, drop)
            if advance is not None:
                advance(len(chunk))
        mask = np.array([o is not None for o in outputs], dtype=bool)
        kept = [o for o in outputs if o is not None]
        return (np.stack(kept) if kept else np.empty((0, 0), dtype=np.float32)), mask


def pixels(images: list[bytes], size: int, *, pad: str = "white") -> np.ndarray:
    """float32 [n, size, size, 3] RGB 0-255 of encoded images (:mod:`acg2vec.imaging`'s rules)."""
    return np.stack([np.asarray(pad_square(decode_bytes(data), size, pad=pad)) for data in images]).astype(np.float32)


def check_outputs(path: Path, tags_file: str, n_tags: int, n_outputs: int) -> None:
    if n_tags != n_outputs:
        raise UserError(
            f"{path / tags_file} lists {n_tags} tags but the model in {path} has {n_outputs} outputs; "
            "the tags file does not belong to this model."
        )


def read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"Cannot read {path}: {err}") from err
    if not isinstance(value, dict):
        raise UserError(f"{path} must hold a JSON object.")
    return value


def onnx_session(model_file: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model_file), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for every kind of bad file
        raise UserError(f"Cannot load the ONNX model {model_file}: {str(err).splitlines()[0][:200]}") from err


def static_dim(value) -> int | None:
    return value if isinstance(value, int) and value > 0 else None
