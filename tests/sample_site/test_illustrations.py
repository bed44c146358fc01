"""The sample site's world, illustrations, Safebooru and Bangumi endpoints, checked against real formats."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from acg2vec.sample_site import generate_world
from acg2vec.sample_site.illustrations import ImageCache
from acg2vec.sample_site.world import COLOURS


def _colour_fraction(image: np.ndarray, colour: tuple[int, int, int], box: tuple[int, int, int, int]) -> float:
    """Share of the pixels in ``box`` (left, top, right, bottom) close to ``colour``."""
    left, top, right, bottom = box
    region = image[top:bottom, left:right].astype(np.int32)
    distance = np.abs(region - np.array(colour, dtype=np.int32)).sum(axis=-1)
    return float((distance < 60).mean()) if distance.size else 0.0


@pytest.mark.unit
def test_tags_describe_the_pictures():
    world = generate_world(seed=0, posts=40)
    cache = ImageCache()
    for post in world.posts:
        rendition = cache.original(post)
        image = Image.open(io.BytesIO(rendition.data))
        assert image.format == ("PNG" if post.ext == "png" else "JPEG")
        assert image.size == (post.width, post.height)
        w, h = image.size
        image = np.asarray(image.convert("RGB"))
        corner = min(w, h) // 12
        background = next(t for t in post.general_tags if t.endswith("_background")).removesuffix("_background")
        corners = [
            (0, 0, corner, corner),
            (w - corner, 0, w, corner),
            (0, h - corner, corner, h),
            (w - corner, h - corner, w, h),
        ]
        assert min(_colour_fraction(image, COLOURS[background], box) for box in corners) > 0.8, post.id
        inner = (int(w * 0.15), int(h * 0.15), int(w * 0.85), int(h * 0.85))
        for tag in post.general_tags:
            colour, _, shape = tag.partition("_")
            if colour in COLOURS and shape in ("circle", "star", "square", "triangle"):
                assert _colour_fraction(image, COLOURS[colour], inner) > 0.004, (post.id, tag)
        shown = {c for c in COLOURS if c != background and _colour_fraction(image, COLOURS[c], inner) > 0.004}
        drawn = {s.colour for s in post.drawing.shapes}
        assert shown <= drawn | {"white", "black", "grey"}, (post.id, shown, drawn)


@pytest.mark.unit
def test_same_seed_gives_the_same_bytes():
    first = generate_world(seed=7, posts=12)
    second = generate_world(seed=7, posts=12)
    a, b = ImageCache(), ImageCache()
    assert [a.original(p).data for p in first.posts] == [b.original(p).data for p in second.posts]
    assert len({a.original(p).md5 for p in first.posts}) > 1
    duplicates = [p for p in first.posts if p.duplicate_of]
    for post in duplicates:
        assert a.original(post).md5 == a.original(first.by_post_id[post.duplicate_of]).md5


@pytest.mark.unit
def test_contact_sheet_draws_posts_with_their_tags(tmp_path):
    from acg2vec.sample_site.illustrations import contact_sheet

    world = generate_world(seed=0, posts=6)
    path = contact_sheet(world.posts, str(tmp_path / "sheet.png"), columns=3)
    sheet = Image.open(path)
    assert sheet.format == "PNG" and sheet.width > 600 and sheet.height > 400
