"""One loaded image model, whatever its folder holds: ``load_image_model(path) -> ImageModel``.

One module per layout (the first that matches wins):

- :mod:`.savedmodel` — an acg2vec export (``saved_model.pb``, ``selected_tags.csv``, ``thresholds.json``);
- :mod:`.deepdanbooru_release` — a DeepDanbooru release project (``model-*.h5``, ``tags.txt``, ``project.json``);
- :mod:`.wd_tagger` — a WD-style tagger (``model.onnx``, ``selected_tags.csv``);
- :mod:`.illust2vec` — an illustration2vec-style export (one ``.onnx`` / ``.keras`` / ``.h5``, optional
  ``tag_list.json``).

Everything is loaded once; the methods take encoded image bytes (JPEG / PNG / ...) and return numpy arrays,
decoded by :mod:`acg2vec.imaging` (the one set of mode rules) where the model does not decode them itself.
"""

from __future__ import annotations

import logging
from pathlib import Path

from acg2vec.datasets.acg_illustrations.schema import SELECTED_TAGS_FILE
from acg2vec.errors import UserError
from acg2vec.integrity import CHECKSUMS_FILE
from acg2vec.trainers.image.export import verify_model_folder
from acg2vec.trainers.image.image_model.base import ImageModel, OnBad
from acg2vec.trainers.image.image_model.deepdanbooru_release import DeepDanbooruImageModel
from acg2vec.trainers.image.image_model.illust2vec import Illust2VecImageModel
from acg2vec.trainers.image.image_model.savedmodel import SavedModelImageModel
from acg2vec.trainers.image.image_model.wd_tagger import WDTaggerImageModel
from acg2vec.trainers.image.models import deepdanbooru

__all__ = ["ImageModel", "OnBad", "detect_layout", "load_image_model"]

log = logging.getLogger(__name__)

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
    if (folder / "saved_model.pb").is_file() or _lists_saved_model(folder):
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


def _lists_saved_model(folder: Path) -> bool:
    """An acg2vec export whose saved_model.pb went missing is still one (its CHECKSUMS.json lists the file), so
    loading it names the missing file instead of calling the folder unknown."""
    try:
        return '"saved_model.pb"' in (folder / CHECKSUMS_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


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
        verify_model_folder(folder)  # a damaged file is one sentence naming it, before TensorFlow reads any
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
