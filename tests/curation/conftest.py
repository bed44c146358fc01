"""A tiny noisy acg_illustrations version whose true tags are known, and a model whose embedding is the mean colour.

Posts are colour squares tagged with their colour (tests/evaluation/fakes); a few red posts lose their ``red`` tag
(missing) and a few green posts carry ``blue`` (wrong). ``TRUTH`` holds every post's true tags.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.evaluation.fakes import colour_image, make_image_model

COLOURS = ("red", "green", "blue")
PER_COLOUR = 30
MISSING_RED = {1, 4, 7}  # post ids (in the first split) of red posts without their red tag
WRONG_BLUE = {31, 35}  # post ids (in the first split) of green posts that also carry blue


def noisy_examples(size: int = 32, *, first_id: int = 1) -> tuple[list[dict], dict[int, set[str]]]:
    """Posts ``first_id``...; the planted errors are on the same pictures in every split (ids offset alike)."""
    examples, truth = [], {}
    post_id = first_id
    for colour in COLOURS:
        for _ in range(PER_COLOUR):
            tags = [colour, "solo"]
            truth[post_id] = set(tags) | {"sample_series"}
            if post_id - first_id + 1 in MISSING_RED:
                tags.remove("red")
            if post_id - first_id + 1 in WRONG_BLUE:
                tags.append("blue")
            examples.append(
                {
                    "id": post_id,
                    "md5": f"{post_id:032x}",
                    "image": colour_image(colour, post_id - first_id + 1, size),  # the same pixels in every split
                    "tags": tags,
                    "characters": [],
                    "copyrights": ["sample_series"],
                    "artists": [],
                    "rating": "general",
                    "score": 1,
                    "pixiv_id": -1,
                    "pixiv_views": -1,
                    "pixiv_bookmarks": -1,
                    "pixiv_likes": -1,
                    "pixiv_sanity_level": -1,
                }
            )
            post_id += 1
    return examples, truth


def write_noisy_dataset(workdir: Path, *, splits: tuple[str, ...] = ("train", "test")) -> tuple[Path, dict]:
    from acg2vec.datasets.acg_illustrations.tiny_dataset import vocabulary_by_count, write_tiny_dataset

    by_split, truth = {}, {}
    for k, split in enumerate(splits):  # the same pictures, other post ids, in each split
        by_split[split], known = noisy_examples(first_id=1 + 1000 * k)
        truth.update(known)
    vocabulary = vocabulary_by_count(by_split[splits[0]], min_images=1)
    folder = write_tiny_dataset(Path(workdir) / "datasets", by_split, vocabulary, size=32)
    return folder, truth


@pytest.fixture(scope="session")
def noisy_world(tmp_path_factory):
    """(workdir with datasets/acg_illustrations/32/1.0.0, the version folder, the truth, the colour model)."""
    root = tmp_path_factory.mktemp("curation")
    folder, truth = write_noisy_dataset(root)
    model = make_image_model(root / "models" / "colour")
    return root, folder, truth, model
