"""The tiny writer: a folder TFDS loads as acg_illustrations, examples round-robin over shards, the vocabulary
through the dataset's own selected_tags.csv writer, and a vocabulary chosen by count."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary
from acg2vec.datasets.acg_illustrations.tiny_dataset import vocabulary_by_count, write_tiny_dataset

pytestmark = pytest.mark.integration


def example(post_id: int, tags: list[str], characters: list[str] = ()) -> dict:
    return {
        "id": post_id,
        "md5": f"{post_id:032x}",
        "image": np.full((16, 16, 3), post_id * 10 % 256, np.uint8),
        "tags": tags,
        "characters": list(characters),
        "copyrights": [],
        "artists": ["someone"],
        "rating": "general",
        "score": post_id,
        "pixiv_id": -1,
        "pixiv_views": -1,
        "pixiv_bookmarks": -1,
        "pixiv_likes": -1,
        "pixiv_sanity_level": -1,
    }


def test_the_folder_loads_with_tfds_in_order_with_its_vocabulary(tmp_path):
    import tensorflow_datasets as tfds

    train = [example(i, ["red"] if i % 2 else ["red", "blue"], ["hero"] if i < 3 else []) for i in range(1, 8)]
    vocabulary = [("red", "general", 7), ("blue", "general", 3), ("hero", "character", 2)]
    folder = write_tiny_dataset(tmp_path, {"train": train, "test": train[:2]}, vocabulary, size=16, shards=3)

    assert folder == tmp_path / "acg_illustrations" / "16" / "1.0.0"
    assert sorted(p.name for p in folder.glob("*.tfrecord-*")) == [
        *(f"acg_illustrations-test.tfrecord-0000{i}-of-00003" for i in range(3)),
        *(f"acg_illustrations-train.tfrecord-0000{i}-of-00003" for i in range(3)),
    ]
    builder = tfds.builder_from_directory(str(folder))
    assert builder.info.name == "acg_illustrations"
    assert builder.info.splits["train"].shard_lengths == [3, 2, 2]  # round-robin: 1, 4, 7 | 2, 5 | 3, 6
    assert builder.info.splits["test"].num_examples == 2
    ids = sorted(int(row["id"]) for row in tfds.as_numpy(builder.as_dataset(split="train")))
    assert ids == list(range(1, 8))
    assert TagVocabulary.read(str(folder / "selected_tags.csv")) == TagVocabulary.from_rows(vocabulary)


def test_a_config_name_other_than_the_size(tmp_path):
    folder = write_tiny_dataset(tmp_path, {"train": [example(1, ["red"])]}, [], size=16, config="bench")
    assert folder == tmp_path / "acg_illustrations" / "bench" / "1.0.0"


def test_vocabulary_by_count_keeps_frequent_tags_most_frequent_first_ties_by_name():
    examples = [
        example(1, ["red", "blue"], ["hero"]),
        example(2, ["red", "blue"], ["hero"]),
        example(3, ["red", "green"]),
    ]
    assert vocabulary_by_count(examples, min_images=2) == [
        ("red", "general", 3),
        ("someone", "artist", 3),
        ("blue", "general", 2),
        ("hero", "character", 2),
    ]
