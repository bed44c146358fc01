"""imaging: the one decoder and its odd-image zoo (made for real with Pillow and zlib).

The zoo's builders live here and are imported by the build's tests (``zoo_files``, through
``tests/beam_pipelines/image_fakes.py``) and the server's tests (``animated_gif`` ... through
``tests/serving/images.py``), so every layer is tested against the same odd files.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from acg2vec.imaging import (
    DROP_REASONS,
    MAX_PIXELS,
    ImageDrop,
    decode,
    decode_bytes,
    is_plain,
    pad_square,
    read_header,
    to_rgb,
)
from tests.evaluation.fakes import COLOURS, colour_image

pytestmark = pytest.mark.unit

# -- the zoo ---------------------------------------------------------------------------------------------------


def encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def animated_gif(first: str = "red", then: str = "blue") -> bytes:
    frames = [Image.fromarray(colour_image(c, i)).convert("P", palette=Image.Palette.ADAPTIVE) for i, c in
              enumerate([first, then, then])]  # fmt: skip
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def cmyk_jpeg(colour: str = "red") -> bytes:
    return encoded(Image.fromarray(colour_image(colour, 1)).convert("CMYK"), "JPEG")


def palette_png(colour: str = "green") -> bytes:
    image = Image.fromarray(colour_image(colour, 2)).convert("P", palette=Image.Palette.ADAPTIVE)
    return encoded(image, "PNG")


def grey16_png(level: int = 40_000, size: int = 32) -> bytes:
    return encoded(Image.fromarray(np.full((size, size), level, dtype=np.uint16), mode="I;16"), "PNG")


def noisy_jpeg(size: tuple[int, int] = (64, 64), seed: int = 0) -> bytes:
    """A JPEG with noise (so its data is long enough to cut in the middle)."""
    rng = np.random.default_rng(seed)
    return encoded(Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB"), "JPEG")


def truncated_jpeg() -> bytes:
    data = encoded(Image.fromarray(colour_image("red", 3, size=256)), "JPEG")
    return data[: len(data) // 2]


def broken_png() -> bytes:
    """A PNG whose compressed pixel data is overwritten with zeros."""
    data = bytearray(encoded(Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), np.uint8)), "PNG"))
    start = data.find(b"IDAT") + 20
    data[start : start + 40] = bytes(40)
    return bytes(data)


def png_bomb(side: int = 30_000) -> bytes:
    """A valid 1-bit ``side`` x ``side`` PNG of zeros: a few hundred kB that decode to ``side``² pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def transparent_palette_png() -> bytes:
    """40 x 40, left half palette index 0 (transparent), right half blue."""
    palette = Image.new("P", (40, 40), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette.paste(0, (0, 0, 20, 40))
    return encoded(palette, "PNG", transparency=0)


def zoo_files() -> dict[str, tuple[bytes | None, str, str | None]]:
    """The odd-file zoo: name -> (file bytes or None for a missing file, extension, expected drop reason or None).

    ``None`` as reason: the file is odd but decodable, and must become an example. The reasons are those of
    :mod:`acg2vec.imaging`, plus the build's ``file-missing``; ``huge-dimensions`` is over a 4 Mpx limit.
    """
    two_frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 0, 255))]
    good = noisy_jpeg()
    return {
        "truncated-jpeg": (good[: len(good) // 2], "jpg", "image-truncated"),
        "zero-bytes": (b"", "jpg", "file-empty"),
        "cmyk-jpeg": (encoded(Image.new("CMYK", (80, 40), (0, 255, 255, 0)), "JPEG"), "jpg", None),  # red
        "png-16-bit": (encoded(Image.fromarray(np.full((40, 40), 32768, np.uint16)), "PNG"), "png", None),
        "palette-transparency": (transparent_palette_png(), "png", None),
        "animated-gif": (
            encoded(two_frames[0], "GIF", save_all=True, append_images=two_frames[1:], duration=100, loop=0),
            "gif",
            None,
        ),
        "huge-dimensions": (encoded(Image.new("1", (2100, 2000), 1), "PNG"), "png", "image-too-large"),
        "png-named-jpg": (encoded(Image.new("RGB", (40, 40), (0, 255, 0)), "PNG"), "jpg", None),
        "html-named-jpg": (
            b"<!DOCTYPE html><html><body>429 Too Many Requests</body></html>",
            "jpg",
            "image-unidentified",
        ),
        "garbage-after-jpeg-header": (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "jpg", "image-unidentified"),
        "png-broken-data": (broken_png(), "png", "image-corrupt"),
        "missing-file": (None, "jpg", "file-missing"),
    }


# -- the tests ---------------------------------------------------------------------------------------------------

ZOO_LIMIT = 4_000_000


@pytest.mark.parametrize("name", [n for n, (data, _, _) in zoo_files().items() if data is not None])
def test_the_zoo_decodes_or_names_its_reason(name: str) -> None:
    data, _, reason = zoo_files()[name]
    if reason is None:
        assert decode_bytes(data, ZOO_LIMIT).mode == "RGB"
        return
    with pytest.raises(ImageDrop) as err:
        decode_bytes(data, ZOO_LIMIT)
    assert err.value.reason == reason and reason in DROP_REASONS


def test_odd_files_decode_to_what_they_show() -> None:
    zoo = zoo_files()
    cmyk = np.asarray(decode_bytes(zoo["cmyk-jpeg"][0]))
    assert cmyk[20, 40, 0] > 200 and cmyk[20, 40, 1] < 60  # red, not inverted or grey
    grey = np.asarray(decode_bytes(zoo["png-16-bit"][0]))
    assert (grey == 128).all()  # 32768 / 65535 * 255 = 127.5, rounded; not clipped to white
    palette = np.asarray(decode_bytes(zoo["palette-transparency"][0]))
    assert (palette[:, :20] == 255).all()  # transparent half composited on white
    assert tuple(palette[20, 30]) == (0, 0, 255)  # opaque half blue
    gif = np.asarray(decode_bytes(zoo["animated-gif"][0]))
    assert gif[20, 20, 0] > 200 and gif[20, 20, 2] < 60  # first frame (red)


def test_16_bit_is_scaled_by_its_mode_not_by_its_brightest_pixel() -> None:
    # A dark 16-bit image (every value <= 255) stays dark: 200 of 65535 is 1 of 255, not 200.
    assert (np.asarray(decode_bytes(grey16_png(200))) == 1).all()
    assert np.asarray(decode_bytes(grey16_png(40_000))).mean() == pytest.approx(40_000 / 65_535 * 255, abs=0.5)
    native = Image.frombytes("I;16N", (4, 4), np.full(16, 40_000, np.uint16).tobytes())  # native byte order
    assert (np.asarray(to_rgb(native)) == 156).all()


def test_32_bit_and_float_grey() -> None:
    eight_bit = Image.fromarray(np.full((4, 4), 100, np.int32), mode="I")
    sixteen_bit = Image.fromarray(np.full((4, 4), 65535, np.int32), mode="I")
    assert (np.asarray(to_rgb(eight_bit)) == 100).all() and (np.asarray(to_rgb(sixteen_bit)) == 255).all()
    unit = Image.fromarray(np.full((4, 4), 0.5, np.float32), mode="F")
    wide = Image.fromarray(np.full((4, 4), 300.0, np.float32), mode="F")
    assert (np.asarray(to_rgb(unit)) == 128).all() and (np.asarray(to_rgb(wide)) == 255).all()


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "RGBa"])
def test_every_transparent_mode_goes_onto_white(mode: str) -> None:
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    image = rgba.convert(mode) if mode != "PA" else Image.new("PA", (4, 4), (0, 0))
    assert (np.asarray(to_rgb(image)) == 255).all()


def test_half_transparent_black_is_mid_grey_and_opaque_pixels_keep_their_colour() -> None:
    image = Image.new("RGBA", (2, 1), (0, 0, 0, 128))
    image.putpixel((1, 0), (10, 20, 30, 255))
    pixels = np.asarray(to_rgb(image))
    assert abs(int(pixels[0, 0, 0]) - 127) <= 1 and tuple(pixels[0, 1]) == (10, 20, 30)


def test_a_palette_without_transparency_keeps_its_colours() -> None:
    image = Image.open(io.BytesIO(palette_png("green")))
    assert np.array_equal(np.asarray(to_rgb(image)), np.asarray(image.convert("RGB")))


def test_plain_files_are_one_frame_8_bit_rgb_or_grey_jpeg_or_png() -> None:
    zoo = zoo_files()
    plain = [noisy_jpeg(), encoded(Image.new("L", (4, 4)), "PNG"), zoo["png-named-jpg"][0]]
    odd = [zoo[n][0] for n in ("cmyk-jpeg", "png-16-bit", "palette-transparency", "animated-gif")]
    odd += [encoded(Image.new("RGBA", (4, 4)), "PNG"), encoded(Image.new("RGB", (4, 4)), "BMP")]
    assert [is_plain(read_header(data)) for data in plain] == [True] * 3
    assert [is_plain(read_header(data)) for data in odd] == [False] * 6


def test_pad_square_white_or_edge() -> None:
    wide = Image.fromarray(colour_image("red", 0, size=64)).resize((64, 16))
    white = np.asarray(pad_square(wide, 32))
    assert white.shape == (32, 32, 3) and (white[:12] == 255).all() and (white[-12:] == 255).all()
    assert white[14:18].mean(axis=(0, 1))[0] > 150  # the picture in the middle
    red = COLOURS["red"]
    edge = np.asarray(pad_square(Image.new("RGB", (64, 16), red), 32, pad="edge"))
    assert (edge.reshape(-1, 3) == red).all()


def test_read_header_checks_before_decoding() -> None:
    import resource

    bomb = png_bomb(30_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImageDrop) as err:
        read_header(bomb)
    assert err.value.reason == "image-too-large"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # kB: never allocated
    with pytest.raises(ImageDrop, match="8000x8000 > 10000000 pixels") as over:
        read_header(png_bomb(8_000), 10_000_000)
    assert over.value.size == (8000, 8000)
    opened = read_header(png_bomb(8_000))  # under the one limit (64 Mpx): opened, not decoded
    assert opened.size == (8000, 8000) and MAX_PIXELS == 64_000_000


def test_truncated_data_is_found_when_decoding() -> None:
    opened = read_header(truncated_jpeg())
    with pytest.raises(ImageDrop) as err:
        decode(opened)
    assert err.value.reason == "image-truncated"
