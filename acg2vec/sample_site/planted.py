"""Booru noise planted in the sample site's world, with the truth kept: missing tags, wrong tags and near-duplicate
uploads, so ``acg2vec curate`` can be measured on a crawl as well as on the learnability world.

    noisy, truth = plant_noise(generate_world(seed=0, posts=300), CurationNoise(missing_rate=0.1, wrong_rate=0.05,
                                                                               near_duplicate_rate=0.05))
    SampleSite(world=noisy)                 # serves the noisy posts and the re-uploaded files
    write_truth(path, truth)                # the manifest of what was planted

- a **missing** tag: each general tag a post's picture shows is left off with ``missing_rate``;
- a **wrong** tag: with ``wrong_rate`` a post also carries one general tag of the world that its picture does not show;
- a **near-duplicate upload**: ``near_duplicate_rate`` of the posts are uploaded again under a new id, newer than
  every post, as one of the re-upload kinds of :mod:`acg2vec.sample_site.reuploads` (re-encoded, resized, lightly
  cropped, recoloured; always a JPEG), tagged as the original is. The files differ, so md5 de-duplication keeps
  them. A :class:`ReuploadPost` reports the size of its own file.

With every rate 0 the world is returned unchanged (the demo's and the tests' worlds stay as they are).
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass

from acg2vec.sample_site.reuploads import REUPLOAD_KINDS
from acg2vec.sample_site.world import Post, World


@dataclass(frozen=True, slots=True)
class CurationNoise:
    """How much noise to plant (rates in [0, 1]) and its seed."""

    missing_rate: float = 0.0
    wrong_rate: float = 0.0
    near_duplicate_rate: float = 0.0
    kinds: tuple[str, ...] = REUPLOAD_KINDS
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("missing_rate", "wrong_rate", "near_duplicate_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], not {value}")
        unknown = set(self.kinds) - set(REUPLOAD_KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"re-upload kinds must be some of {REUPLOAD_KINDS}, not {self.kinds}")

    @property
    def any(self) -> bool:
        return bool(self.missing_rate or self.wrong_rate or self.near_duplicate_rate)


@dataclass(slots=True)
class ReuploadPost(Post):
    """A post whose file is another post's picture uploaded again as a re-upload of ``reupload``."""

    reupload: str = "reencode"
    near_duplicate_of: int = 0  # the post whose picture this is
    file_width: int = 0
    file_height: int = 0

    @property
    def ext(self) -> str:
        return "jpg"

    @property
    def width(self) -> int:
        return self.file_width

    @property
    def height(self) -> int:
        return self.file_height


def plant_noise(world: World, noise: CurationNoise) -> tuple[World, dict]:
    """A copy of ``world`` with ``noise`` planted in its posts, and the truth (see :func:`write_truth`)."""
    if not noise.any:
        return world, {"noise": dataclasses.asdict(noise), "tags": {}, "near_duplicates": []}
    from acg2vec.sample_site.illustrations import reupload_size

    rng = random.Random(f"{noise.seed}:planted")
    vocabulary = sorted({t for p in world.posts for t in p.general_tags})
    posts: list[Post] = []
    tag_truth: dict[int, dict[str, list[str]]] = {}
    for post in world.posts:
        removed = [t for t in post.general_tags if rng.random() < noise.missing_rate]
        added = []
        if rng.random() < noise.wrong_rate:
            unseen = [t for t in vocabulary if t not in post.general_tags]
            added = [rng.choice(unseen)] if unseen else []
        general = sorted((set(post.general_tags) - set(removed)) | set(added))
        posts.append(dataclasses.replace(post, general_tags=general) if removed or added else post)
        if removed or added:
            tag_truth[post.id] = {"removed": sorted(removed), "added": added}
    duplicates = []
    next_id = max((p.id for p in world.posts), default=0)
    originals = rng.sample(posts, round(noise.near_duplicate_rate * len(posts)))
    for k, original in enumerate(sorted(originals, key=lambda p: p.id)):
        next_id += rng.randint(1, 3)
        kind = noise.kinds[k % len(noise.kinds)]
        fields = {f.name: getattr(original, f.name) for f in dataclasses.fields(Post)}
        copy = ReuploadPost(**{**fields, "id": next_id, "parent_id": None, "has_children": False, "pixiv_id": None},
                            reupload=kind, near_duplicate_of=original.id)  # fmt: skip
        copy.file_width, copy.file_height = reupload_size(copy)
        posts.append(copy)
        duplicates.append({"post": next_id, "duplicate_of": original.id, "kind": kind})
    planted = World(config=world.config, works=world.works, characters=world.characters, persons=world.persons,
                    posts=posts)  # fmt: skip
    return planted, {"noise": dataclasses.asdict(noise), "tags": tag_truth, "near_duplicates": duplicates}


def write_truth(path: str, truth: dict) -> None:
    """The manifest of what was planted: the noise, per post the general tags ``removed`` (missing) and ``added``
    (wrong), and every near-duplicate upload with the post it copies and how."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({**truth, "tags": {str(k): v for k, v in truth["tags"].items()}}, fh, indent=1, sort_keys=True)
