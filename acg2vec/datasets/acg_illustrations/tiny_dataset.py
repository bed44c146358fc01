"""A small ``acg_illustrations`` folder written straight from examples in memory, without a build.

For tests, benchmarks and fixtures that need a dataset in the exact on-disk format the trainers and evaluators
read (TFRecord shards, TFDS metadata, ``selected_tags.csv``) but not the crawl and Beam build behind it:

    write_tiny_dataset(data_dir, {"train": examples, "validation": more}, vocabulary_by_count(examples,
                       min_images=5), size=64)

An example is a dict of the feature contract (:func:`~acg2vec.datasets.acg_illustrations.schema.features_for_size`):
``image`` a ``size`` x ``size`` x 3 uint8 array, ``tags`` / ``characters`` / ``copyrights`` / ``artists`` lists,
``rating`` a name, the numbers -1 when unknown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from acg2vec.datasets.acg_illustrations.schema import NAME, features_for_size
from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary

VERSION = "1.0.0"
# The example field each tag category is listed in.
CATEGORY_FIELDS = {"general": "tags", "character": "characters", "copyright": "copyrights", "artist": "artists"}


def write_tiny_dataset(
    data_dir: str | Path,
    splits: Mapping[str, Iterable[Mapping[str, Any]]],
    vocabulary: Sequence[tuple[str, str, int]],
    *,
    size: int,
    config: str | None = None,
    shards: int = 1,
) -> Path:
    """Write ``data_dir/acg_illustrations/<config>/1.0.0/`` (``config`` defaults to the image size) and return it.

    Each split's examples go round-robin over ``shards`` TFRecord files; ``vocabulary`` is the rows of
    ``selected_tags.csv`` in output order, as ``(name, category, count)``.
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    version_dir = Path(data_dir) / NAME / (config or str(size)) / VERSION
    version_dir.mkdir(parents=True, exist_ok=True)
    features = features_for_size(size)
    split_infos = []
    for split, examples in splits.items():
        paths = [version_dir / f"{NAME}-{split}.tfrecord-{i:05d}-of-{shards:05d}" for i in range(shards)]
        lengths = [0] * shards
        writers = [tf.io.TFRecordWriter(str(path)) for path in paths]
        try:
            for k, example in enumerate(examples):
                writers[k % shards].write(features.serialize_example(dict(example)))
                lengths[k % shards] += 1
        finally:
            for writer in writers:
                writer.close()
        num_bytes = sum(path.stat().st_size for path in paths)
        split_infos.append(tfds.core.SplitInfo(name=split, shard_lengths=lengths, num_bytes=num_bytes))
    tfds.folder_dataset.write_metadata(
        data_dir=str(version_dir),
        features=features,
        split_infos=split_infos,
        version=VERSION,
        check_data=False,
    )
    TagVocabulary.from_rows(vocabulary).write(str(version_dir))
    return version_dir


def vocabulary_by_count(examples: Iterable[Mapping[str, Any]], *, min_images: int) -> list[tuple[str, str, int]]:
    """The tags on at least ``min_images`` of ``examples``, most frequent first (ties by name), as
    ``(name, category, count)``; the category is the field a tag is listed in."""
    counts: Counter = Counter()
    categories: dict[str, str] = {}
    for example in examples:
        for category, field in CATEGORY_FIELDS.items():
            for tag in example[field]:
                counts[tag] += 1
                categories[tag] = category
    kept = sorted((t for t, n in counts.items() if n >= min_images), key=lambda t: (-counts[t], t))
    return [(tag, categories[tag], counts[tag]) for tag in kept]
