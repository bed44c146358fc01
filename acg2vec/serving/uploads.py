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


def prepare_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> PreparedImage:
    """Check and normalise an upload into bytes every model decodes the same way (8-bit RGB JPEG or PNG)."""
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
    fmt = image.format or "unknown"
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
        return PreparedImage(data, width, height, fmt, notes)
    buffer = io.BytesIO()
    converted.save(buffer, format="PNG", compress_level=1)
    return PreparedImage(buffer.getvalue(), width, height, fmt, notes)
