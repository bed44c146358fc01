"""Awkward images made for real with Pillow and zlib: animations, CMYK, 16-bit, palette, truncated, bombs."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from tests.evaluation.fakes import colour_image, jpeg_bytes


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
    return encoded(Image.fromarray(colour_image(colour, 2)).convert("P", palette=Image.Palette.ADAPTIVE), "PNG")


def grey16_png(level: int = 40_000, size: int = 32) -> bytes:
    return encoded(Image.fromarray(np.full((size, size), level, dtype=np.uint16), mode="I;16"), "PNG")


def truncated_jpeg() -> bytes:
    data = jpeg_bytes(colour_image("red", 3, size=256))
    return data[: len(data) // 2]


def png_bomb(side: int = 30_000) -> bytes:
    """A valid 1-bit ``side`` x ``side`` PNG of zeros: a few hundred kB that decode to ``side``² pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
