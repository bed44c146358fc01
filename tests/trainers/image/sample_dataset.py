"""The sample site's pictures as a small ``acg_illustrations`` dataset, written by the dataset's own tiny writer.

The posts and pictures are exactly those the sample site serves (same world, same drawing code), padded to a
white square and resized as the image build does; splits by post id as the demo's build does (8 / 1 / 1 tenths).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from acg2vec.datasets.acg_illustrations.tiny_dataset import vocabulary_by_count, write_tiny_dataset

SPLITS = {"train": range(0, 8), "validation": range(8, 9), "test": range(9, 10)}


def _square(picture, size: int) -> np.ndarray:
    from PIL import Image

    side = max(picture.size)
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(picture, ((side - picture.width) // 2, (side - picture.height) // 2))
    return np.asarray(canvas.resize((size, size), Image.Resampling.BILINEAR))


def _example(post, size: int) -> dict:
    from PIL import Image

    from acg2vec.sample_site.illustrations import encode, render

    picture = Image.open(io.BytesIO(encode(render(post.drawing), post.ext))).convert("RGB")
    return {
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


def write_sample_dataset(data_dir: Path, *, posts: int, size: int = 64, seed: int = 0, min_images: int = 5) -> Path:
    """``data_dir/acg_illustrations/<size>/1.0.0`` from the first ``posts`` posts of the sample world."""
    from acg2vec.sample_site.world import generate_world

    world = generate_world(seed=seed, posts=posts)
    originals = [post for post in world.posts if post.duplicate_of is None]
    splits = {
        split: [_example(post, size) for post in originals if post.id % 10 in residues]
        for split, residues in SPLITS.items()
    }
    vocabulary = vocabulary_by_count(splits["train"], min_images=min_images)
    return write_tiny_dataset(data_dir, splits, vocabulary, size=size)
