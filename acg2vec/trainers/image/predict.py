"""Use an exported image model: tags of image files (``acg2vec predict``) and image vectors (``acg2vec embed``).

Files are read and checked one at a time and fed to the model in batches as they come, so memory stays bounded
whatever the number of files: at most one batch of encoded files is held. Before a file is decoded its header
gives its size (:func:`acg2vec.imaging.read_header`): more than ``max_pixels`` (the one decompression-bomb
limit, :data:`acg2vec.imaging.MAX_PIXELS`) and it is skipped as ``image-too-large``. Every skipped file is counted and dead-lettered with its reason
(``unreadable-file``, ``undecodable-image``, ``image-too-large``) and named to the caller as it happens.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from acg2vec.datasets.acg_illustrations.schema import SELECTED_TAGS_FILE
from acg2vec.deadletter import DeadLetters
from acg2vec.errors import UserError
from acg2vec.imaging import MAX_PIXELS, ImageDrop, decode, encode_png, is_plain, read_header
from acg2vec.logs import progress_task
from acg2vec.trainers.image.image_model import detect_layout, load_image_model

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
UNREADABLE = "unreadable-file"
UNDECODABLE = "undecodable-image"
TOO_LARGE = "image-too-large"

# Called with (path, reason, detail) for every file skipped.
SkipCallback = Callable[[Path, str, str], None]


@dataclass(slots=True)
class TagScore:
    name: str
    score: float


@dataclass(slots=True)
class ImageTags:
    path: str
    tags: list[TagScore]


def image_models(models_dir: str, names: tuple[str, ...], *, taggers_only: bool = False) -> list[str]:
    """The folders of ``names`` under ``models_dir`` that hold an image model in a known layout, in that order.

    With ``taggers_only``, acg2vec exports without a tag head (illust2vec: no ``selected_tags.csv``) are left out.
    """
    found = []
    for name in names:
        path = os.path.join(models_dir, name)
        layout = detect_layout(path)
        if layout is None:
            continue
        if taggers_only and layout == "acg2vec" and not os.path.isfile(os.path.join(path, SELECTED_TAGS_FILE)):
            continue
        found.append(path)
    return found


def find_model(models_dir: str, preference: tuple[str, ...], *, what: str) -> str:
    """The first of ``preference`` under ``models_dir`` that holds an image model; one sentence if none does."""
    found = image_models(models_dir, preference)
    if not found:
        raise UserError(f"No {what} model under {models_dir}; train one with `acg2vec train` or pass --model.")
    return found[0]


def load_model(model_dir: str):
    """The image model in ``model_dir``: an acg2vec export or a release folder (see :mod:`.image_model`)."""
    return load_image_model(model_dir)


def expand_inputs(inputs: list[Path]) -> list[Path]:
    """Files as given, and the image files inside given folders (sorted, recursive); paths only, no bytes."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"No such image file or folder: {path}")
    return files


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise UserError(f"--batch-size must be 1 or more, not {batch_size}.")


def check_max_pixels(max_pixels: int) -> None:
    if max_pixels < 1:
        raise UserError(f"--max-pixels must be 1 or more, not {max_pixels}.")


def read_images(
    files: Iterable[Path],
    dead: DeadLetters,
    *,
    max_pixels: int = MAX_PIXELS,
    on_skip: SkipCallback | None = None,
) -> Iterator[tuple[Path, bytes]]:
    """Yield ``(path, encoded bytes)`` of each file that decodes as an image, one file at a time.

    A file larger than ``max_pixels`` is refused from its header, before any decoding; one that does not
    decode is refused after a trial decode of that one file (the model would fail the whole batch on it). A file
    that is not plain RGB or grey JPEG / PNG is handed on as the PNG of :func:`acg2vec.imaging.decode`.
    Each refused file is counted and dead-lettered in ``dead`` and passed to ``on_skip``.
    """
    import tensorflow as tf

    def skip(path: Path, reason: str, detail: str) -> None:
        dead.add(reason, {"path": str(path)}, detail=detail)
        if on_skip is not None:
            on_skip(path, reason, detail)

    for path in files:
        try:
            data = path.read_bytes()
        except OSError as err:
            skip(path, UNREADABLE, str(err)[:200])
            continue
        try:
            image = read_header(data, max_pixels)
            if not is_plain(image):
                # Transparency, 16-bit, CMYK, animations: decoded by imaging's rules (as the server does), so an
                # export's TensorFlow decoder never sees them (it would drop the alpha instead of using white).
                data = encode_png(decode(image))
        except ImageDrop as drop:
            if drop.reason == TOO_LARGE:
                skip(path, TOO_LARGE, _pixels_over(drop.detail, max_pixels))
            else:
                skip(path, UNDECODABLE, drop.detail.splitlines()[0][:200] if drop.detail else drop.reason)
            continue
        try:
            decoded = tf.io.decode_image(data, channels=3, expand_animations=False)
            del decoded  # the trial decode is dropped at once; only the encoded bytes go on
        except (tf.errors.InvalidArgumentError, ValueError) as err:
            skip(path, UNDECODABLE, str(err).splitlines()[0][:200])
            continue
        yield path, data


def _pixels_over(detail: str, max_pixels: int) -> str:
    """``"<w>x<h> > <limit> pixels"``; Pillow's own refusal (past twice its limit) names only the pixel count."""
    if " > " in detail:
        return detail
    found = re.search(r"\((\d+) pixels\)", detail)
    return f"{found.group(1) if found else 'more'} pixels > {max_pixels} pixels"


def _batches(items: Iterable, size: int) -> Iterator[list]:
    """Lists of up to ``size`` items, taken from ``items`` as they come (never more than one batch held)."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def predict_tags(
    files: list[Path],
    *,
    model_dir: str,
    top_k: int | None = None,
    batch_size: int = 32,
    dead: DeadLetters,
    max_pixels: int = MAX_PIXELS,
    on_skip: SkipCallback | None = None,
) -> Iterator[ImageTags]:
    """Tags of each decodable image as it is tagged: above the model's tuned thresholds, or the ``top_k`` best.

    Arguments are checked before the model loads; the results come one batch at a time.
    """
    check_batch_size(batch_size)
    check_max_pixels(max_pixels)
    if top_k is not None and top_k < 1:
        raise UserError(f"--top-k must be 1 or more, not {top_k}.")
    return _predict_tags(
        files, model_dir=model_dir, top_k=top_k, batch_size=batch_size, dead=dead, max_pixels=max_pixels,
        on_skip=on_skip,
    )  # fmt: skip


def _predict_tags(
    files: list[Path],
    *,
    model_dir: str,
    top_k: int | None,
    batch_size: int,
    dead: DeadLetters,
    max_pixels: int,
    on_skip: SkipCallback | None,
) -> Iterator[ImageTags]:
    import numpy as np

    model = load_model(model_dir)
    if not model.has_tags:
        raise UserError(f"{model_dir} is not a tagger (it has no tag probabilities); use `acg2vec embed` with it.")
    names = model.tag_names
    cut = model.tag_thresholds(0.5)
    images = read_images(files, dead, max_pixels=max_pixels, on_skip=on_skip)
    for batch in _batches(images, batch_size):
        scores = model.tag_probabilities([data for _, data in batch])
        for (path, _), row in zip(batch, scores, strict=True):
            order = np.argsort(-row)
            chosen = order[:top_k] if top_k else [j for j in order if row[j] >= cut[j]]
            yield ImageTags(str(path), [TagScore(names[j], float(row[j])) for j in chosen])


def embed_files(
    files: list[Path],
    *,
    model_dir: str,
    out: str,
    batch_size: int = 32,
    dead: DeadLetters,
    max_pixels: int = MAX_PIXELS,
    on_skip: SkipCallback | None = None,
) -> int:
    """Write ``<out>.npy`` (float32 [n, dim]) and ``<out>.parquet`` (id, path, row, vector); returns n.

    The id is the file name without its suffix (the dataset's files are named by md5 or post id). Both files
    are written under temporary names and renamed together at the end: a failed run leaves neither.
    """
    check_batch_size(batch_size)
    check_max_pixels(max_pixels)
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = load_model(model_dir)
    if not model.has_embedding:
        raise UserError(f"{model_dir} ({model.kind}) gives no image vectors; use a model with an embedding.")
    vectors, paths = [], []
    with progress_task("Embedding images", total=len(files)) as advance:

        def skipped(path: Path, reason: str, detail: str) -> None:
            advance(1)
            if on_skip is not None:
                on_skip(path, reason, detail)

        for batch in _batches(read_images(files, dead, max_pixels=max_pixels, on_skip=skipped), batch_size):
            vectors.append(model.embed([data for _, data in batch]))
            paths.extend(path for path, _ in batch)
            advance(len(batch))
    matrix = np.concatenate(vectors).astype(np.float32) if vectors else np.zeros((0, 0), np.float32)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "id": [path.stem for path in paths],
            "path": [str(path) for path in paths],
            "row": list(range(len(paths))),
            "vector": [row.tolist() for row in matrix],
        }
    )
    npy, parquet = Path(f"{out_path}.npy"), Path(f"{out_path}.parquet")
    tmp_npy, tmp_parquet = Path(f"{out_path}.npy.tmp-{os.getpid()}"), Path(f"{out_path}.parquet.tmp-{os.getpid()}")
    try:
        with tmp_npy.open("wb") as fh:
            np.save(fh, matrix)
        pq.write_table(table, tmp_parquet)
        tmp_npy.replace(npy)
        tmp_parquet.replace(parquet)
    finally:
        tmp_npy.unlink(missing_ok=True)
        tmp_parquet.unlink(missing_ok=True)
    return len(paths)
