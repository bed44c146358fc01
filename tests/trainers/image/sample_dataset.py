"""The sample site's pictures as a small ``acg_illustrations`` dataset, written straight in the TFDS format.

The posts and pictures are exactly those the sample site serves (same world, same drawing code), padded to a
white square and resized as the image build does; splits by post id as the demo's build does (8 / 1 / 1 tenths).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np

from acg2vec.datasets.acg_illustrations.schema import NAME, SELECTED_TAGS_FILE, features_for_size

SPLITS = {"train": range(0, 8), "validation": range(8, 9), "test": range(9, 10)}


def _square(picture, size: int) -> np.ndarray:
    from PIL import Image

    side = max(picture.size)
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(picture, ((side - picture.width) // 2, (side - picture.height) // 2))
    return np.asarray(canvas.resize((size, size), Image.Resampling.BILINEAR))


def write_sample_dataset(data_dir: Path, *, posts: int, size: int = 64, seed: int = 0, min_images: int = 5) -> Path:
    """``data_dir/acg_illustrations/<size>/1.0.0`` from the first ``posts`` posts of the sample world."""
    import tensorflow as tf
    import tensorflow_datasets as tfds
    from PIL import Image

    from acg2vec.sample_site.illustrations import encode, render
    from acg2vec.sample_site.world import generate_world

    world = generate_world(seed=seed, posts=posts)
    version_dir = Path(data_dir) / NAME / str(size) / "1.0.0"
    version_dir.mkdir(parents=True, exist_ok=True)
    features = features_for_size(size)
    counts: Counter = Counter()
    categories: dict[str, str] = {}
    split_infos = []
    for split, residues in SPLITS.items():
        path = version_dir / f"{NAME}-{split}.tfrecord-00000-of-00001"
        n = 0
        with tf.io.TFRecordWriter(str(path)) as writer:
            for post in world.posts:
                if post.duplicate_of is not None or post.id % 10 not in residues:
                    continue
                picture = Image.open(io.BytesIO(encode(render(post.drawing), post.ext))).convert("RGB")
                example = {
                    "id": post.id,
                    "md5": f"{post.id:032x}",
                    "image": _square(picture, size),
                    "tags": post.general_tags,
                    "characters": post.character_tags,
                    "copyrights": post.copyright_tags,
                    "artists": post.artist_tags,
                    "rating": post.rating,
                    "score": post.score if post.score is not None else -1,
                    "pixiv_id": -1,
                    "pixiv_views": -1,
                    "pixiv_bookmarks": -1,
                    "pixiv_likes": -1,
                    "pixiv_sanity_level": -1,
                }
                writer.write(features.serialize_example(example))
                n += 1
                if split == "train":
                    for tag, category in post.tag_categories.items():
                        if category != "meta":
                            counts[tag] += 1
                            categories[tag] = category
        split_infos.append(tfds.core.SplitInfo(name=split, shard_lengths=[n], num_bytes=path.stat().st_size))
    tfds.folder_dataset.write_metadata(
        data_dir=str(version_dir), features=features, split_infos=split_infos, version="1.0.0", check_data=False
    )
    with open(version_dir / SELECTED_TAGS_FILE, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["tag_id", "name", "category", "count"])
        kept = sorted((t for t, c in counts.items() if c >= min_images), key=lambda t: (-counts[t], t))
        for i, tag in enumerate(kept):
            writer.writerow([i, tag, categories[tag], counts[tag]])
    return version_dir
