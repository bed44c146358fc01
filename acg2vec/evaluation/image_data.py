"""What the image evaluators read: the ``acg_illustrations`` TFDS dataset and a model's vocabulary, with the
images a model cannot decode counted and set aside instead of crashing (:meth:`ImageModel.embed_robust`)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from acg2vec.datasets.acg_illustrations.schema import NAME, SELECTED_TAGS_FILE
from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary
from acg2vec.datasets.published import crc_checked, open_published
from acg2vec.datasets.versions import complete_dataset_dirs
from acg2vec.deadletter import DeadLetters
from acg2vec.errors import UserError
from acg2vec.imaging import ImageDrop
from acg2vec.trainers.image.image_model import OnBad

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


def read_tag_info(model_dir: str) -> TagVocabulary:
    """The model's vocabulary from ``selected_tags.csv`` (row order = output order)."""
    path = os.path.join(model_dir, SELECTED_TAGS_FILE)
    if not os.path.isfile(path):
        raise UserError(f"{model_dir} has no {SELECTED_TAGS_FILE}; is it an exported acg2vec image model?")
    return TagVocabulary.read(path)


def dead_letter_bad_images(dead_letters: DeadLetters | None, images: list[bytes], ids: list[int] | None) -> OnBad:
    """An ``on_bad`` for :meth:`ImageModel.embed_robust`: each image the model cannot read is counted as
    ``undecodable-image`` with its id (its position without ids)."""

    def on_bad(index: int, drop: ImageDrop) -> None:
        if dead_letters is not None:
            record = {"id": ids[index] if ids else index, "bytes": len(images[index])}
            dead_letters.add("undecodable-image", record, detail=str(drop)[:300])

    return on_bad


def read_images(
    data_dir: str, *, split: str = "validation", max_images: int | None = None, batch_size: int = 64
) -> ImageRecords:
    """Image bytes (not decoded) and label sets of one split of ``acg_illustrations``."""
    import tensorflow_datasets as tfds

    folder = resolve_dataset_dir(data_dir)
    builder = open_published(folder)  # a damaged version is one sentence with its repair, before any reading
    if split not in builder.info.splits:
        raise UserError(f"the dataset at {folder} has no '{split}' split (it has {sorted(builder.info.splits)}).")
    if builder.info.name != NAME:
        log.warning("dataset at %s is %r, not %r", folder, builder.info.name, NAME)
    ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
    if max_images:
        ds = ds.take(max_images)
    records = ImageRecords()
    # One example at a time: the label lists have different lengths, and only bytes are read (no decoding). A
    # record whose CRC fails stops the read with the sentence naming its shard.
    with crc_checked(folder, split):
        for example in tfds.as_numpy(ds.prefetch(batch_size)):
            records.ids.append(int(example["id"]))
            records.images.append(bytes(example["image"]))
            labels = set()
            for feature in LABEL_FEATURES:
                if feature in example:
                    labels.update(t.decode("utf-8") for t in example[feature])
            records.labels.append(labels)
    return records
