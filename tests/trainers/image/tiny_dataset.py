"""A tiny ``acg_illustrations`` dataset for the image trainer tests (written by the dataset's own tiny writer).

Each 64 px image is a white square with coloured patches; the tags say which colours are present, so a small
network can learn them quickly and beat the tag-frequency baseline. Rating and score follow the patches too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acg2vec.datasets.acg_illustrations.tiny_dataset import write_tiny_dataset as write_tiny_dataset_folder

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 180, 30),
    "blue": (30, 30, 220),
    "yellow": (230, 220, 20),
    "black": (10, 10, 10),
}
# A character tag that always comes with "black", so the vocabulary spans two categories.
CHARACTER = "shadow_(character)"


def make_image(rng: np.random.Generator, present: list[str], size: int) -> np.ndarray:
    image = np.full((size, size, 3), 255, dtype=np.uint8)
    patch = size // 3
    for name in present:
        top, left = rng.integers(0, size - patch, size=2)
        image[top : top + patch, left : left + patch] = COLOURS[name]
    return image


def write_tiny_dataset(
    data_dir: Path,
    *,
    size: int = 64,
    splits: dict[str, int] | None = None,
    seed: int = 0,
    shards: int = 2,
    config: str | None = None,
) -> Path:
    """Write ``data_dir/acg_illustrations/<config>/1.0.0/`` and return that version folder."""
    splits = splits or {"train": 48, "validation": 24}
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys([*COLOURS, CHARACTER], 0)
    examples: dict[str, list[dict]] = {}
    next_id = 1
    for split, n in splits.items():
        examples[split] = []
        for k in range(n):
            present = [name for name in COLOURS if rng.random() < 0.4] or ["red"]
            for name in present:
                counts[name] += 1
            characters = [CHARACTER] if "black" in present else []
            counts[CHARACTER] += len(characters)
            has_pixiv = k % 2 == 0
            examples[split].append(
                {
                    "id": next_id,
                    "md5": f"{next_id:032x}",
                    "image": make_image(rng, present, size),
                    "tags": present,
                    "characters": characters,
                    "copyrights": [],
                    "artists": ["someone"],
                    "rating": "general" if "blue" not in present else "sensitive",
                    "score": 10 * len(present),
                    "pixiv_id": next_id if has_pixiv else -1,
                    "pixiv_views": 100 * len(present) if has_pixiv else -1,
                    "pixiv_bookmarks": 10 * len(present) if has_pixiv else -1,
                    "pixiv_likes": -1,
                    "pixiv_sanity_level": 2 if has_pixiv else -1,
                }
            )
            next_id += 1
    vocabulary = [(name, "general", counts[name]) for name in COLOURS] + [(CHARACTER, "character", counts[CHARACTER])]
    return write_tiny_dataset_folder(data_dir, examples, vocabulary, size=size, config=config, shards=shards)
