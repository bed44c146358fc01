"""What the image evaluators read: an exported image model (SavedModel + selected_tags.csv + thresholds.json)
and the ``acg_illustrations`` TFDS dataset, with undecodable images counted and set aside instead of crashing."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from acg2vec.datasets.acg_illustrations.schema import NAME, SELECTED_TAGS_FILE
from acg2vec.datasets.acg_illustrations.selected_tags import read_selected_tags
from acg2vec.datasets.versions import complete_dataset_dirs
from acg2vec.deadletter import DeadLetters
from acg2vec.errors import UserError
from acg2vec.evaluation.tagging_metrics import TagInfo
from acg2vec.logs import progress_task
from acg2vec.trainers.image.image_model import ImageDecodeError

log = logging.getLogger(__name__)

LABEL_FEATURES = ("tags", "characters", "copyrights", "artists")


@dataclass(slots=True)
class ImageRecords:
    """Evaluated images: ids, encoded bytes and label sets, in dataset order."""

    ids: list[int] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)
    labels: list[set[str]] = field(default_factory=list)


def resolve_dataset_dir(path: str) -> str:
    """The version folder (with dataset_info.json) under ``path``: the newest config/version if several."""
    if not os.path.isdir(path):
        raise UserError(f"no dataset at {path}; build one with `acg2vec build images`.")
    found = complete_dataset_dirs(path)
    if not found:
        raise UserError(f"no TFDS dataset (dataset_info.json) under {path}; build one with `acg2vec build images`.")
    chosen = found[-1]
    if len(found) > 1:
        log.info("using %s (of %d datasets under %s)", chosen, len(found), path)
    return chosen


def read_tag_info(model_dir: str) -> TagInfo:
    """The model's vocabulary from ``selected_tags.csv`` (row order = output order)."""
    path = os.path.join(model_dir, SELECTED_TAGS_FILE)
    if not os.path.isfile(path):
        raise UserError(f"{model_dir} has no {SELECTED_TAGS_FILE}; is it an exported acg2vec image model?")
    rows = read_selected_tags(path)
    return TagInfo(
        names=[r.name for r in rows], categories=[r.category for r in rows], counts=np.asarray([r.count for r in rows])
    )


def read_thresholds(model_dir: str, names: list[str]) -> np.ndarray | None:
    """Per-tag thresholds from ``thresholds.json`` (``default`` for tags it does not list); None if absent."""
    path = os.path.join(model_dir, "thresholds.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    default = float(data.get("default", 0.5))
    per_tag = data.get("thresholds", {})
    return np.array([float(per_tag.get(name, default)) for name in names])


def load_signature(model_dir: str, name: str):
    """A serving signature of an exported image model."""
    if not os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
        raise UserError(
            f"no SavedModel at {model_dir}; train one with `acg2vec train tagger` or `acg2vec train deepix`."
        )
    import tensorflow as tf

    loaded = tf.saved_model.load(model_dir)
    if name not in loaded.signatures:
        raise UserError(f"the model at {model_dir} has no '{name}' signature (it has {sorted(loaded.signatures)}).")
    return loaded.signatures[name]


def read_images(
    data_dir: str, *, split: str = "validation", max_images: int | None = None, batch_size: int = 64
) -> ImageRecords:
    """Image bytes (not decoded) and label sets of one split of ``acg_illustrations``."""
    import tensorflow_datasets as tfds

    folder = resolve_dataset_dir(data_dir)
    builder = tfds.builder_from_directory(folder)
    if split not in builder.info.splits:
        raise UserError(f"the dataset at {folder} has no '{split}' split (it has {sorted(builder.info.splits)}).")
    if builder.info.name != NAME:
        log.warning("dataset at %s is %r, not %r", folder, builder.info.name, NAME)
    ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
    if max_images:
        ds = ds.take(max_images)
    records = ImageRecords()
    # One example at a time: the label lists have different lengths, and only bytes are read (no decoding).
    for example in tfds.as_numpy(ds.prefetch(batch_size)):
        records.ids.append(int(example["id"]))
        records.images.append(bytes(example["image"]))
        labels = set()
        for feature in LABEL_FEATURES:
            if feature in example:
                labels.update(t.decode("utf-8") for t in example[feature])
        records.labels.append(labels)
    return records


def run_signature(
    signature,
    output: str,
    images: list[bytes],
    *,
    batch_size: int = 32,
    dead_letters: DeadLetters | None = None,
    ids: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a SavedModel signature on encoded images in batches (see :func:`run_model`)."""
    import tensorflow as tf

    def call(chunk: list[bytes]) -> np.ndarray:
        try:
            return signature(image_bytes=tf.constant(chunk))[output].numpy()
        except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as err:
            raise ImageDecodeError(err.message) from err

    return run_model(call, images, what=output, batch_size=batch_size, dead_letters=dead_letters, ids=ids)


def run_model(
    fn: Callable[[list[bytes]], np.ndarray],
    images: list[bytes],
    *,
    what: str = "outputs",
    batch_size: int = 32,
    dead_letters: DeadLetters | None = None,
    ids: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``fn`` (an :class:`ImageModel` method) on encoded images in batches; returns (outputs of the images
    that worked, their mask).

    A batch that fails is retried image by image, and the images that still fail are counted as
    ``undecodable-image`` with their id, so one bad file never stops an evaluation.
    """
    outputs: list[np.ndarray | None] = [None] * len(images)
    with progress_task(f"Computing {what}", total=len(images)) as advance:
        for start in _batches(len(images), batch_size):
            chunk = images[start : start + batch_size]
            advance(len(chunk))
            try:
                outputs[start : start + len(chunk)] = list(fn(chunk))
                continue
            except ImageDecodeError as err:
                log.debug("batch at %d failed (%s); retrying image by image", start, str(err)[:200])
            for offset, data in enumerate(chunk):
                try:
                    outputs[start + offset] = fn([data])[0]
                except ImageDecodeError as err:
                    if dead_letters is not None:
                        record = {"id": ids[start + offset] if ids else start + offset, "bytes": len(data)}
                        dead_letters.add("undecodable-image", record, detail=str(err)[:300])
    mask = np.array([o is not None for o in outputs], dtype=bool)
    kept = [o for o in outputs if o is not None]
    return (np.stack(kept) if kept else np.empty((0, 0), dtype=np.float32)), mask


def _batches(n: int, size: int) -> Iterator[int]:
    return iter(range(0, n, size))
