"""The learnability world's planted truth: missing and wrong tags at a chosen rate, and near-duplicate re-uploads
(re-encoded, resized, cropped, recoloured) that keep their original's picture and labels."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from acg2vec.sample_site.picture_drawing import draw_picture
from acg2vec.sample_site.pictures import make_picture, make_reupload, make_world
from acg2vec.sample_site.reuploads import REUPLOAD_KINDS, reupload, reupload_jpeg


@pytest.fixture(scope="module")
def world():
    return make_world(0)


def test_the_default_rates_are_the_worlds_usual_noise(world):
    default = [make_picture(i, 0, world) for i in range(1, 300)]
    explicit = [make_picture(i, 0, world, missing_rate=0.10, wrong_rate=0.05) for i in range(1, 300)]
    assert [p.labels for p in default] == [p.labels for p in explicit]


def test_missing_and_wrong_tags_follow_the_rates_and_are_the_truth(world):
    def rates(missing_rate, wrong_rate):
        pictures = [make_picture(i, 0, world, missing_rate=missing_rate, wrong_rate=wrong_rate) for i in range(1, 801)]
        visible = sum(1 for p in pictures for c in p.visible.values() if c == "general")
        for p in pictures:  # the truth is exactly the difference between what is drawn and what is labelled
            assert p.missing_tags == {t for t, c in p.visible.items() if c == "general"} - set(p.labels)
            assert p.wrong_tags == set(p.labels) - set(p.visible)
        missing = sum(len(p.missing_tags) for p in pictures) / visible
        wrong = sum(len(p.wrong_tags) for p in pictures) / len(pictures)
        return missing, wrong

    assert rates(0.0, 0.0) == (0.0, 0.0)
    missing, wrong = rates(0.3, 0.2)
    assert 0.26 < missing < 0.34
    assert 0.12 < wrong < 0.22  # a wrong tag that the picture happens to show is no wrong tag


def test_a_reupload_keeps_the_picture_and_labels_and_is_drawn_changed(world):
    original = make_picture(7, 0, world)
    for kind in REUPLOAD_KINDS:
        copy = make_reupload(original, 1007, kind)
        assert (copy.id, copy.duplicate_of, copy.reupload) == (1007, 7, kind)
        assert copy.labels == original.labels and copy.visible == original.visible
        drawn, again = draw_picture(copy, world, 64), draw_picture(copy, world, 64)
        assert drawn == again != draw_picture(original, world, 64)
        assert Image.open(io.BytesIO(drawn)).size == (64, 64)
    assert original.duplicate_of is None and original.reupload is None
    with pytest.raises(ValueError, match="unknown re-upload kind"):
        make_reupload(original, 1008, "mirror")


def test_reupload_kinds_change_the_image_as_named():
    image = Image.new("RGB", (200, 100), (200, 40, 40))
    rng = random.Random(0)
    assert reupload(image, "reencode", rng).size == (200, 100)
    small = reupload(image, "resize", rng)
    assert 80 <= small.width <= 150 and small.height < 100
    cropped = reupload(image, "crop", rng)
    assert 168 <= cropped.width <= 188 and 84 <= cropped.height <= 94
    assert reupload(image, "crop", rng, keep_size=True).size == (200, 100)
    recoloured = reupload(image, "recolour", rng)
    assert recoloured.size == (200, 100) and recoloured.getpixel((5, 5)) != (200, 40, 40)
    data = reupload_jpeg(_png(image), "resize", random.Random(1))
    assert data[:2] == b"\xff\xd8"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
