"""One loaded image model, whatever its folder holds: ``load_image_model(path) -> ImageModel``.

Layouts understood (the first that matches wins):

- **acg2vec export** — ``saved_model.pb`` with the ``serving_default`` / ``embed`` / ``heads`` signatures that
  ``acg2vec train`` writes, ``selected_tags.csv`` and ``thresholds.json`` beside it (embedding-only for
  illust2vec).
- **DeepDanbooru release project** — ``model-resnet_custom_v3.h5`` (or v4, any ``model-*.h5``), ``tags.txt`` in
  output order, ``tags-general.txt`` / ``tags-character.txt``, ``project.json`` with ``image_width`` /
  ``image_height``. Input RGB float in [0, 1], the picture scaled into the square and padded. ``rating:*`` tags,
  where the release has them, are its rating outputs.
- **WD-style tagger** — ``model.onnx`` + ``selected_tags.csv`` (``tag_id,name,category,count``; booru category
  codes 0 general, 4 character, 9 rating). Input BGR float in [0, 255], NHWC, the picture padded to a white
  square; run with onnxruntime. The category-9 outputs are its rating.
- **illustration2vec-style export** — one ``.onnx``, ``.keras`` or ``.h5`` model and no tag file: a feature
  model (``embed``); with ``tag_list.json`` beside it, a tag model too. Input BGR float in [0, 255] minus the
  Caffe mean, at the model's size, NCHW or NHWC as the model's input says.

Everything is loaded once; the methods take encoded image bytes (JPEG / PNG / ...) and return numpy arrays.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acg2vec.datasets.acg_illustrations.schema import SELECTED_TAGS_FILE, category_name
from acg2vec.errors import UserError
from acg2vec.trainers.image.models import deepdanbooru
from acg2vec.vocabularies import RATINGS

log = logging.getLogger(__name__)

THRESHOLDS_FILE = "thresholds.json"
# Thresholds WD-style taggers are commonly run with (general tags; characters need more certainty).
WD_THRESHOLDS = {"general": 0.35, "character": 0.85}
DEEPDANBOORU_THRESHOLD = 0.5  # DeepDanbooru's own default
# illustration2vec's Caffe mean pixel, BGR, subtracted from 0-255 inputs.
I2V_MEAN_BGR = (164.76139251, 167.47864617, 181.13838569)
I2V_IMAGE_SIZE = 224
# illustration2vec's tag_list.json: 512 general, 512 character, 512 copyright tags, then the ratings.
I2V_CATEGORY_BLOCKS = (("general", 512), ("character", 512), ("copyright", 512))


class ImageDecodeError(ValueError):
    """An input that is not a decodable image (callers count it and set it aside)."""


@dataclass(slots=True)
class ImageModel:
    """A loaded image model: its tag vocabulary and what it can compute on encoded images.

    ``tag_names`` / ``tag_categories`` are in output order; ``thresholds`` per tag (None when the model has
    none of its own); ``rating_names`` the classes ``rating`` scores. Subclasses fill in the computations.
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


# -- decoding shared by the release loaders -------------------------------------------------------------------


def decode_rgb(data: bytes) -> np.ndarray:
    """uint8 [h, w, 3] RGB of encoded bytes (the first frame of an animation); ImageDecodeError otherwise."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.seek(0)
            if image.mode in ("RGBA", "LA", "P"):
                # Transparent areas become white, as boorus show them.
                rgba = image.convert("RGBA")
                canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                canvas.alpha_composite(rgba)
                return np.asarray(canvas.convert("RGB"))
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise ImageDecodeError(f"not a decodable image: {err}") from err


def square_resize(rgb: np.ndarray, size: int, *, pad: str = "white") -> np.ndarray:
    """Scale the longest side to ``size`` and pad to a square (white, or the edge pixels); uint8 [size, size, 3]."""
    from PIL import Image

    height, width = rgb.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.BICUBIC))
    top, left = (size - new_h) // 2, (size - new_w) // 2
    widths = ((top, size - new_h - top), (left, size - new_w - left), (0, 0))
    if pad == "edge":
        return np.pad(resized, widths, mode="edge")
    return np.pad(resized, widths, mode="constant", constant_values=255)


def _batch(images: list[bytes], size: int, *, pad: str = "white") -> np.ndarray:
    return np.stack([square_resize(decode_rgb(data), size, pad=pad) for data in images]).astype(np.float32)


def _check_outputs(path: Path, tags_file: str, n_tags: int, n_outputs: int) -> None:
    if n_tags != n_outputs:
        raise UserError(
            f"{path / tags_file} lists {n_tags} tags but the model in {path} has {n_outputs} outputs; "
            "the tags file does not belong to this model."
        )


# -- acg2vec's own exports ------------------------------------------------------------------------------------


class SavedModelImageModel(ImageModel):
    """A SavedModel exported by ``acg2vec train`` (its signatures decode and resize the bytes themselves)."""

    __slots__ = ("_signatures",)

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        try:
            loaded = tf.saved_model.load(str(path))
        except (OSError, ValueError, tf.errors.OpError) as err:
            raise UserError(f"Cannot load the SavedModel in {path}: {str(err).splitlines()[0][:200]}") from err
        info_path = path / "export.json"
        size = json.loads(info_path.read_text())["image_size"] if info_path.is_file() else 0
        super().__init__(path=str(path), kind="acg2vec", image_size=int(size))
        self._signatures = dict(loaded.signatures)
        self._signatures["_loaded"] = loaded  # keeps the variables alive
        tags_path = path / SELECTED_TAGS_FILE
        if "probabilities" in self._outputs("serving_default"):
            if not tags_path.is_file():
                raise UserError(f"{path} has tag outputs but no {SELECTED_TAGS_FILE} naming them.")
            names, categories, counts = _read_selected_tags(tags_path)
            n_outputs = self._signatures["serving_default"].structured_outputs["probabilities"].shape[-1]
            if n_outputs is not None:
                _check_outputs(path, SELECTED_TAGS_FILE, len(names), int(n_outputs))
            self.tag_names, self.tag_categories, self.tag_counts = names, categories, counts
            self.thresholds = _read_thresholds(path / THRESHOLDS_FILE, names)
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
            raise ImageDecodeError(str(err.message).splitlines()[0][:300]) from err
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


def _read_selected_tags(path: Path) -> tuple[list[str], list[str], list[int]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "name" not in rows[0]:
        raise UserError(f"{path} is empty or has no 'name' column (expected tag_id,name,category,count).")
    return (
        [row["name"] for row in rows],
        [category_name(row.get("category")) for row in rows],
        [int(float(row.get("count") or 0)) for row in rows],
    )


def _read_thresholds(path: Path, names: list[str]) -> np.ndarray | None:
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    default = float(data.get("default", 0.5))
    per_tag = data.get("thresholds", {})
    return np.array([float(per_tag.get(name, default)) for name in names], dtype=np.float32)


# -- DeepDanbooru release project folders ---------------------------------------------------------------------


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class DeepDanbooruImageModel(ImageModel):
    """A DeepDanbooru project folder as its releases ship it (Keras .h5, tags.txt, project.json)."""

    __slots__ = ("_model", "_embed_model", "_rating_columns", "model_file")

    def __init__(self, path: Path, model_file: Path) -> None:
        project = _read_json(path / "project.json")
        width, height = project.get("image_width"), project.get("image_height")
        if not isinstance(width, int) or width != height:
            raise UserError(f"{path / 'project.json'} needs equal integer image_width and image_height.")
        names = _read_lines(path / "tags.txt")
        general = set(_read_lines(path / "tags-general.txt")) if (path / "tags-general.txt").is_file() else set()
        character = set(_read_lines(path / "tags-character.txt")) if (path / "tags-character.txt").is_file() else set()
        categories = [
            "rating"
            if name.startswith("rating:")
            else "character"
            if name in character
            else "general"
            if name in general or not general
            else "meta"
            for name in names
        ]
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
        _check_outputs(path, "tags.txt", len(names), int(self._model.outputs[0].shape[-1]))
        self._embed_model = None
        self._rating_columns = [i for i, c in enumerate(categories) if c == "rating"]
        self.rating_names = [names[i].removeprefix("rating:") for i in self._rating_columns]

    @property
    def has_embedding(self) -> bool:
        return True

    def _pixels(self, images: list[bytes]) -> np.ndarray:
        # DeepDanbooru scales the picture into the square and pads it with its edge pixels, then divides by 255.
        return _batch(images, self.image_size, pad="edge") / 255.0

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


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"Cannot read {path}: {err}") from err
    if not isinstance(value, dict):
        raise UserError(f"{path} must hold a JSON object.")
    return value


# -- ONNX (WD-style taggers, illustration2vec exports) --------------------------------------------------------


def _onnx_session(model_file: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model_file), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for every kind of bad file
        raise UserError(f"Cannot load the ONNX model {model_file}: {str(err).splitlines()[0][:200]}") from err


def _static_dim(value) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


class WDTaggerImageModel(ImageModel):
    """A WD-style tagger folder: ``model.onnx`` + ``selected_tags.csv``, run with onnxruntime."""

    __slots__ = ("_session", "_input", "_rating_columns")

    def __init__(self, path: Path) -> None:
        names, categories, counts = _read_selected_tags(path / SELECTED_TAGS_FILE)
        session = _onnx_session(path / "model.onnx")
        model_input = session.get_inputs()[0]
        shape = list(model_input.shape)
        if len(shape) != 4 or _static_dim(shape[3]) != 3 or _static_dim(shape[1]) is None:
            raise UserError(f"{path / 'model.onnx'} does not take NHWC colour images (its input is {shape}).")
        n_outputs = _static_dim(session.get_outputs()[0].shape[-1])
        if n_outputs is not None:
            _check_outputs(path, SELECTED_TAGS_FILE, len(names), n_outputs)
        thresholds = np.array([WD_THRESHOLDS.get(c, WD_THRESHOLDS["general"]) for c in categories], np.float32)
        super().__init__(
            path=str(path),
            kind="wd-tagger",
            image_size=int(shape[1]),
            tag_names=names,
            tag_categories=categories,
            tag_counts=counts,
            thresholds=thresholds,
        )
        self._session, self._input = session, model_input.name
        self._rating_columns = [i for i, c in enumerate(categories) if c == "rating"]
        self.rating_names = [names[i] for i in self._rating_columns]

    def _outputs(self, images: list[bytes]) -> np.ndarray:
        # RGB -> BGR, 0-255 floats, NHWC: the WD taggers' training input.
        pixels = _batch(images, self.image_size, pad="white")[..., ::-1]
        out = self._session.run(None, {self._input: np.ascontiguousarray(pixels)})[0]
        if out.shape[-1] != len(self.tag_names):
            _check_outputs(Path(self.path), SELECTED_TAGS_FILE, len(self.tag_names), int(out.shape[-1]))
        return out.astype(np.float32)

    def tag_probabilities(self, images: list[bytes]) -> np.ndarray:
        return self._outputs(images)

    def rating(self, images: list[bytes]) -> np.ndarray:
        if not self.has_rating:
            return super().rating(images)
        return self._outputs(images)[:, self._rating_columns]


class Illust2VecImageModel(ImageModel):
    """An illustration2vec-style export (ONNX or Keras): a feature model, and a tag model with ``tag_list.json``."""

    __slots__ = ("_run_fn", "_channels_first", "_n_outputs", "_rating_columns", "model_file")

    def __init__(self, path: Path, model_file: Path) -> None:
        if model_file.suffix == ".onnx":
            session = _onnx_session(model_file)
            model_input = session.get_inputs()[0]
            shape = list(model_input.shape)
            out_dim = _static_dim(session.get_outputs()[0].shape[-1])

            def run(batch: np.ndarray) -> np.ndarray:
                return session.run(None, {model_input.name: batch})[0]

        else:
            model = deepdanbooru.load_file(str(model_file))
            shape = [None, *model.inputs[0].shape[1:]]
            out_dim = _static_dim(model.outputs[0].shape[-1])

            def run(batch: np.ndarray) -> np.ndarray:
                return np.asarray(model.predict_on_batch(batch))

        if len(shape) != 4 or 3 not in (_static_dim(shape[1]), _static_dim(shape[3])):
            raise UserError(f"{model_file} does not take colour images (its input is {shape}).")
        channels_first = _static_dim(shape[1]) == 3
        size = _static_dim(shape[2]) or I2V_IMAGE_SIZE
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
                _check_outputs(path, "tag_list.json", len(names), out_dim)
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
        pixels = _batch(images, self.image_size, pad="white")[..., ::-1] - np.array(I2V_MEAN_BGR, np.float32)
        if self._channels_first:
            pixels = pixels.transpose(0, 3, 1, 2)
        return np.asarray(self._run_fn(np.ascontiguousarray(pixels, dtype=np.float32)), dtype=np.float32)

    def embed(self, images: list[bytes]) -> np.ndarray:
        if not self.has_embedding:
            return super().embed(images)
        out = self._outputs(images)
        return out.reshape(len(images), -1)

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


# -- the one entry point --------------------------------------------------------------------------------------

LAYOUTS = (
    "an acg2vec export (saved_model.pb)",
    "a DeepDanbooru project (model-*.h5, tags.txt, project.json)",
    "a WD-style tagger (model.onnx, selected_tags.csv)",
    "an illustration2vec-style export (one .onnx / .keras / .h5 model, optional tag_list.json)",
)


def detect_layout(path: str | Path) -> str | None:
    """ "acg2vec", "deepdanbooru", "wd-tagger", "illust2vec", "incomplete" (part of a release) or None."""
    folder = Path(path)
    if not folder.is_dir():
        return None
    if (folder / "saved_model.pb").is_file():
        return "acg2vec"
    if (
        (folder / "project.json").is_file()
        and (folder / "tags.txt").is_file()
        and deepdanbooru.release_model_file(folder)
    ):
        return "deepdanbooru"
    if (folder / "model.onnx").is_file() and (folder / SELECTED_TAGS_FILE).is_file():
        return "wd-tagger"
    if _incomplete(folder):
        return "incomplete"
    if len(_model_files(folder)) == 1:
        return "illust2vec"
    return None


def _incomplete(folder: Path) -> str:
    """What a release folder lacks when it holds part of a known layout (else ""), so it is not mistaken for
    an illustration2vec export or silently fed the wrong input."""
    if deepdanbooru.release_model_file(folder) or (folder / "tags.txt").is_file():
        missing = [n for n in ("project.json", "tags.txt") if not (folder / n).is_file()]
        if not deepdanbooru.release_model_file(folder):
            missing.append("model-resnet_custom_v3.h5 (or v4)")
        return f"looks like a DeepDanbooru project but lacks {', '.join(missing)}" if missing else ""
    return ""


def _model_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".onnx", ".keras", ".h5"))


def load_image_model(path: str | Path) -> ImageModel:
    """The model in folder ``path`` (a model file inside one stands for its folder); one sentence if neither."""
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"No model folder at {path}.")
    layout = detect_layout(folder)
    if layout == "acg2vec":
        model: ImageModel = SavedModelImageModel(folder)
    elif layout == "deepdanbooru":
        model = DeepDanbooruImageModel(folder, deepdanbooru.release_model_file(folder))
    elif layout == "wd-tagger":
        model = WDTaggerImageModel(folder)
    elif layout == "illust2vec":
        model = Illust2VecImageModel(folder, _model_files(folder)[0])
    elif layout == "incomplete":
        raise UserError(f"{folder} {_incomplete(folder)}.")
    else:
        raise UserError(f"{folder} holds no image model in a known layout: expected {'; or '.join(LAYOUTS)}.")
    log.info(
        "Loaded %s model from %s (%d tags, image size %d)", model.kind, folder, len(model.tag_names), model.image_size
    )
    return model


# The Keras file a training run starts from; it lives beside the DeepDanbooru model code that loads it.
deepdanbooru_model_file = deepdanbooru.model_file
