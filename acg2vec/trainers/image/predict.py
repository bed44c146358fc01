"""Use an exported image model: tags of image files (``acg2vec predict``) and image vectors (``acg2vec embed``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from acg2vec.deadletter import DeadLetters
from acg2vec.errors import UserError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
# Preferred model folders under <workdir>/models when --model is not given.
TAGGER_PREFERENCE = ("deepdanbooru", "alt_i2v", "deepix")
EMBEDDER_PREFERENCE = ("illust2vec", "deepix", "deepdanbooru", "alt_i2v")


@dataclass(slots=True)
class TagScore:
    name: str
    score: float


@dataclass(slots=True)
class ImageTags:
    path: str
    tags: list[TagScore]


def find_model(models_dir: str, preference: tuple[str, ...], *, what: str) -> str:
    """The first of ``preference`` that exists under ``models_dir`` as a SavedModel."""
    for name in preference:
        if (Path(models_dir) / name / "saved_model.pb").is_file():
            return str(Path(models_dir) / name)
    raise UserError(f"No {what} model under {models_dir}; train one with `acg2vec train` or pass --model.")


def load_model(model_dir: str):
    """The image model in ``model_dir``: an acg2vec export or a release folder (see :mod:`.image_model`)."""
    from acg2vec.trainers.image.image_model import load_image_model

    return load_image_model(model_dir)


def expand_inputs(inputs: list[Path]) -> list[Path]:
    """Files as given, and the image files inside given folders (sorted, recursive)."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"No such image file or folder: {path}")
    return files


def read_images(files: list[Path], dead: DeadLetters) -> list[tuple[Path, bytes]]:
    """Encoded bytes of the files that decode as images; the others are counted and dead-lettered."""
    import tensorflow as tf

    good = []
    for path in files:
        try:
            data = path.read_bytes()
            tf.io.decode_image(data, channels=3, expand_animations=False)
        except OSError as err:
            dead.add("unreadable_file", {"path": str(path)}, detail=str(err))
            continue
        except (tf.errors.InvalidArgumentError, ValueError) as err:
            dead.add("undecodable_image", {"path": str(path)}, detail=str(err).splitlines()[0][:200])
            continue
        good.append((path, data))
    return good


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def predict_tags(
    files: list[Path], *, model_dir: str, top_k: int | None = None, batch_size: int = 32, dead: DeadLetters
) -> list[ImageTags]:
    """Tags of each decodable image: above the model's tuned thresholds, or the ``top_k`` best when given."""
    import numpy as np

    model = load_model(model_dir)
    if not model.has_tags:
        raise UserError(f"{model_dir} is not a tagger (it has no tag probabilities); use `acg2vec embed` with it.")
    names = model.tag_names
    cut = model.tag_thresholds(0.5)
    results = []
    for batch in _batches(read_images(files, dead), batch_size):
        scores = model.tag_probabilities([data for _, data in batch])
        for (path, _), row in zip(batch, scores, strict=True):
            order = np.argsort(-row)
            chosen = order[:top_k] if top_k else [j for j in order if row[j] >= cut[j]]
            results.append(ImageTags(str(path), [TagScore(names[j], float(row[j])) for j in chosen]))
    return results


def embed_files(files: list[Path], *, model_dir: str, out: str, batch_size: int = 32, dead: DeadLetters) -> int:
    """Write ``<out>.npy`` (float32 [n, dim]) and ``<out>.parquet`` (id, path, row, vector); returns n.

    The id is the file name without its suffix (the dataset's files are named by md5 or post id).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from acg2vec.logs import progress_task

    model = load_model(model_dir)
    if not model.has_embedding:
        raise UserError(f"{model_dir} ({model.kind}) gives no image vectors; use a model with an embedding.")
    images = read_images(files, dead)
    vectors = []
    with progress_task("Embedding images", total=len(images)) as advance:
        for batch in _batches(images, batch_size):
            vectors.append(model.embed([data for _, data in batch]))
            advance(len(batch))
    matrix = np.concatenate(vectors).astype(np.float32) if vectors else np.zeros((0, 0), np.float32)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.save(f"{out_path}.npy", matrix)
    table = pa.table(
        {
            "id": [path.stem for path, _ in images],
            "path": [str(path) for path, _ in images],
            "row": list(range(len(images))),
            "vector": [row.tolist() for row in matrix],
        }
    )
    pq.write_table(table, f"{out_path}.parquet")
    return len(images)
