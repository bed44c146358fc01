"""Uploaded images checked before any model sees them: size, pixels, format, frames and colour mode.

Every rejection is a :class:`BadInput` with an HTTP status and one sentence. The pixel count is read from the
header and checked before decoding, so a small file that would inflate to gigabytes (a decompression bomb) is
refused without allocating it. Animated images give their first frame; CMYK, 16-bit, palette and transparent
images are converted to 8-bit RGB (transparency onto white, as boorus show it).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
# Longest side handed to the models: they resize to a few hundred pixels anyway, and this bounds their memory.
MODEL_MAX_SIDE = 1024
# Formats the models' own decoders read as they are; anything else is re-encoded as PNG.
PASS_THROUGH = {"JPEG", "PNG"}
# Uploads up to this many pixels are decoded on the event loop: a thumbnail-sized image decodes in well under a
# millisecond, less than handing it to a worker thread and back costs while the models hold the CPU; larger
# ones are decoded in a worker thread so the loop keeps answering.
INLINE_DECODE_PIXELS = 512 * 512
INLINE_DECODE_BYTES = 1024 * 1024


class BadInput(Exception):
    """A client's mistake: an HTTP status and one sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class PreparedImage:
    data: bytes
    width: int
    height: int
    format: str
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        return {"width": self.width, "height": self.height, "format": self.format, "notes": self.notes}


def _to_rgb(image, notes: list[str]):
    from PIL import Image

    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit (or 32-bit integer) grey: scale the range down to 8 bits instead of clipping it to white.
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or pixels.max() > 255 else 255.0
        grey = np.clip(pixels / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        notes.append(f"converted {mode} (16-bit) to 8-bit RGB")
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        grey = np.clip(pixels / max(pixels.max(), 1e-12) * 255.0, 0, 255).astype(np.uint8)
        notes.append("converted floating-point pixels to 8-bit RGB")
        return Image.fromarray(grey, "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        notes.append(f"converted {mode} to RGB (transparency onto white)")
        return canvas.convert("RGB")
    notes.append(f"converted {mode} to RGB")
    return image.convert("RGB")


@dataclass(slots=True)
class OpenedUpload:
    """An upload whose header was read and checked: size and format known, no pixel decoded yet."""

    data: bytes
    image: object  # PIL.Image.Image, opened lazily
    width: int
    height: int
    format: str

    @property
    def decodes_quickly(self) -> bool:
        """Small enough to decode on the event loop (see ``INLINE_DECODE_PIXELS``)."""
        return self.width * self.height <= INLINE_DECODE_PIXELS and len(self.data) <= INLINE_DECODE_BYTES


def open_upload(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> OpenedUpload:
    """Read and check the image header only (cheap at any size): a non-image, a decompression bomb or an
    image without pixels is refused here before anything is decoded."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise BadInput(400, "The upload is empty; send an image file.")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise BadInput(
            413, f"The image has more pixels than the limit of {max_pixels:,}; send a smaller one."
        ) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise BadInput(
            415, "The upload is not an image in a format acg2vec reads (JPEG, PNG, GIF, WebP, BMP)."
        ) from None
    width, height = image.size
    if width * height > max_pixels:
        raise BadInput(
            413, f"The image is {width} x {height} pixels, over the limit of {max_pixels:,}; send a smaller one."
        )
    if width == 0 or height == 0:
        raise BadInput(422, "The image has no pixels.")
    return OpenedUpload(data, image, width, height, image.format or "unknown")


def decode_upload(opened: OpenedUpload, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> PreparedImage:
    """Decode an opened upload and normalise it into bytes every model decodes the same way (8-bit RGB JPEG or
    PNG); a truncated or corrupt file is refused here."""
    from PIL import Image

    image, fmt, width, height = opened.image, opened.format, opened.width, opened.height
    notes: list[str] = []
    frames = int(getattr(image, "n_frames", 1) or 1)
    try:
        if frames > 1:
            image.seek(0)
            notes.append(f"animated {fmt} with {frames} frames: the first frame was used")
        image.load()
        converted = _to_rgb(image, notes)
    except Image.DecompressionBombError:
        raise BadInput(
            413, f"The image has more pixels than the limit of {max_pixels:,}; send a smaller one."
        ) from None
    except (OSError, ValueError, SyntaxError) as err:
        reason = "it is truncated" if "truncated" in str(err) else "its data is corrupt"
        raise BadInput(422, f"The {fmt} image cannot be decoded: {reason}.") from None
    if max(width, height) > MODEL_MAX_SIDE:
        converted = converted.copy()
        converted.thumbnail((MODEL_MAX_SIDE, MODEL_MAX_SIDE))
        notes.append(f"scaled down to {converted.width} x {converted.height} for the models")
    if fmt in PASS_THROUGH and not notes:
        return PreparedImage(opened.data, width, height, fmt, notes)
    buffer = io.BytesIO()
    converted.save(buffer, format="PNG", compress_level=1)
    return PreparedImage(buffer.getvalue(), width, height, fmt, notes)


def prepare_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> PreparedImage:
    """Check and normalise an upload into bytes every model decodes the same way (8-bit RGB JPEG or PNG)."""
    return decode_upload(open_upload(data, max_pixels=max_pixels), max_pixels=max_pixels)
