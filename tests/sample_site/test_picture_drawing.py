"""Drawing the picture world: a JPEG of the asked size that shows a drawing, the same bytes for the same picture."""

from __future__ import annotations

import io

from acg2vec.sample_site.picture_drawing import draw_picture
from acg2vec.sample_site.pictures import make_picture, make_world


def test_pictures_render_as_jpeg_of_the_asked_size():
    from PIL import Image

    world = make_world(0)
    posts = [make_picture(i + 1, 0, world) for i in range(3)]
    data = draw_picture(posts[0], world, 64)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (64, 64)
    assert len(set(image.convert("RGB").getdata())) > 20  # a drawing, not a flat field


def test_the_same_picture_draws_the_same_bytes():
    world = make_world(0)
    picture = make_picture(5, 0, world)
    assert draw_picture(picture, world, 48) == draw_picture(make_picture(5, 0, world), world, 48)
