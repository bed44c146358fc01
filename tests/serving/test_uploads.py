"""Uploads are checked and normalised before a model sees them; every rejection is one sentence."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from acg2vec.imaging import MAX_PIXELS
from acg2vec.serving.uploads import INLINE_DECODE_BYTES, BadInput, decode_upload, open_upload
from tests.evaluation.fakes import colour_image, jpeg_bytes
from tests.test_imaging import animated_gif, cmyk_jpeg, grey16_png, palette_png, png_bomb, truncated_jpeg

pytestmark = pytest.mark.unit


def prepare_image(data: bytes, *, max_pixels: int = MAX_PIXELS):
    """What the server does with an upload: the header checked, then decoded."""
    return decode_upload(open_upload(data, max_pixels=max_pixels), max_pixels=max_pixels)


def decoded(prepared) -> np.ndarray:
    with Image.open(io.BytesIO(prepared.data)) as image:
        assert image.mode == "RGB"
        return np.asarray(image)


def test_a_plain_jpeg_passes_as_it_is():
    data = jpeg_bytes(colour_image("red", 1))
    prepared = prepare_image(data)
    assert prepared.data is data and prepared.notes == [] and prepared.format == "JPEG"


def test_animated_gif_gives_its_first_frame():
    prepared = prepare_image(animated_gif("red", "blue"))
    assert any("first frame" in note for note in prepared.notes)
    r, g, b = decoded(prepared).reshape(-1, 3).mean(axis=0)
    assert r > 150 and b < 100  # red, not the blue frames after it


@pytest.mark.parametrize(("data", "mode"), [(cmyk_jpeg("red"), "CMYK"), (palette_png("red"), "P")])
def test_cmyk_and_palette_become_rgb(data, mode):
    prepared = prepare_image(data)
    assert any(mode in note for note in prepared.notes)
    r, g, b = decoded(prepared).reshape(-1, 3).mean(axis=0)
    assert r > 150 and g < 100 and b < 100


def test_16_bit_is_scaled_not_clipped():
    prepared = prepare_image(grey16_png(40_000))
    assert any("16-bit" in note for note in prepared.notes)
    assert decoded(prepared).mean() == pytest.approx(40_000 / 65_535 * 255, abs=1.5)


def test_large_images_are_scaled_for_the_models():
    prepared = prepare_image(jpeg_bytes(np.full((2000, 3000, 3), 128, np.uint8)))
    assert (prepared.width, prepared.height) == (3000, 2000)
    assert decoded(prepared).shape == (683, 1024, 3)


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 400, "empty"),
        (b"%PDF-1.4 not an image at all", 415, "not an image"),
        (truncated_jpeg(), 422, "truncated"),
    ],
)
def test_rejections_are_one_sentence(data, status, words):
    with pytest.raises(BadInput) as err:
        prepare_image(data)
    assert err.value.status == status and words in err.value.message
    assert err.value.message.endswith(".") and err.value.message.count(". ") == 0


def test_a_decompression_bomb_is_refused_from_its_header():
    import resource

    bomb = png_bomb(30_000)
    assert len(bomb) < 2_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(BadInput) as err:
        prepare_image(bomb)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert err.value.status == 413 and "pixels" in err.value.message and "limit" in err.value.message
    assert after - before < 100_000  # kB: the 900-megapixel image was never allocated


def test_a_large_image_under_pillows_own_limit_is_refused_by_ours():
    with pytest.raises(BadInput) as err:
        prepare_image(png_bomb(8_000), max_pixels=10_000_000)
    assert err.value.status == 413 and "8000 x 8000" in err.value.message


def test_the_header_alone_says_whether_an_upload_decodes_quickly():
    small = open_upload(jpeg_bytes(colour_image("red", 1)))
    assert small.decodes_quickly and (small.width, small.height, small.format) == (64, 64, "JPEG")
    assert not open_upload(jpeg_bytes(np.full((1000, 1000, 3), 128, np.uint8))).decodes_quickly
    # Few pixels but many bytes (a long animation, big metadata) is not decoded on the event loop either.
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("comment", "x" * INLINE_DECODE_BYTES)
    buffer = io.BytesIO()
    Image.fromarray(colour_image("red", 1)).save(buffer, format="PNG", pnginfo=info)
    assert not open_upload(buffer.getvalue()).decodes_quickly
