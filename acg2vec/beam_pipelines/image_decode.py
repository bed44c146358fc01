"""One image file -> a ``size`` x ``size`` JPEG on a white square, or a named reason why not.

Plain functions (no Beam), so they are tested directly and reused by the benchmark's baseline loop.
What Pillow reads is decoded: palette and alpha are composited on white, CMYK and 16-bit images are
converted to 8-bit RGB, animations give their first frame. Files that cannot become an example raise
:class:`ImageDrop` with one of :data:`IMAGE_DROP_REASONS`.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

IMAGE_DROP_REASONS = (
    "file-missing",  # the post names a file that is not there
    "file-empty",  # zero bytes
    "image-unidentified",  # not an image format Pillow knows (an HTML error page saved as .jpg ...)
    "image-truncated",  # the data ends early
    "image-corrupt",  # Pillow knows the format but cannot decode the data
    "image-too-large",  # more pixels than the decompression-bomb limit
    "image-too-small",  # shorter side below the build's minimum
)


class ImageDrop(Exception):
    """An image that cannot become an example; ``reason`` is one of :data:`IMAGE_DROP_REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class ImageRules:
    """How files become example images.

    ``max_pixels`` is the decompression-bomb limit (width x height, checked from the header before decoding).
    ``min_side``: the shorter side of the decoded original must be at least this.
    """

    size: int = 224
    max_pixels: int = 64_000_000
    min_side: int = 0
    jpeg_quality: int = 95


def read_file(path: str) -> bytes:
    """The bytes of a local or remote file; a missing file is ``ImageDrop("file-missing")``."""
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path, compression_type="uncompressed") as fh:
            return fh.read()
    except Exception as err:  # OSError locally; Beam wraps other file systems' errors in BeamIOError
        raise ImageDrop("file-missing", f"{path}: {err}") from err


def decode_resize_encode(data: bytes, rules: ImageRules) -> bytes:
    """Encoded image bytes -> JPEG bytes of a ``rules.size`` square (longest side resized, white padding)."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageDrop("file-empty")
    try:
        with warnings.catch_warnings():
            # Our own pixel limit runs on the header below; Pillow's warning would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as err:
        raise ImageDrop("image-unidentified", str(err)) from err
    except Image.DecompressionBombError as err:
        raise ImageDrop("image-too-large", str(err)) from err
    except (OSError, ValueError, SyntaxError) as err:
        raise ImageDrop("image-corrupt", str(err)) from err
    width, height = img.size
    if width * height > rules.max_pixels:
        raise ImageDrop("image-too-large", f"{width}x{height} > {rules.max_pixels} pixels")
    if min(width, height) < rules.min_side:
        raise ImageDrop("image-too-small", f"{width}x{height}, shorter side < {rules.min_side}")
    if img.format == "JPEG" and img.mode in ("RGB", "L", "CMYK"):
        # JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale straight from the DCT, several times faster for
        # a large source; draft never goes below the requested size.
        target = _target_size(width, height, rules.size)
        img.draft("RGB" if img.mode != "CMYK" else img.mode, target)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.seek(0)  # first frame of an animation
            img.load()
        rgb = _to_rgb(img)
    except Image.DecompressionBombError as err:
        raise ImageDrop("image-too-large", str(err)) from err
    except OSError as err:
        reason = "image-truncated" if "truncated" in str(err) else "image-corrupt"
        raise ImageDrop(reason, str(err)) from err
    except (ValueError, SyntaxError, EOFError) as err:
        raise ImageDrop("image-corrupt", str(err)) from err
    return _pad_and_encode(rgb, rules)


def _target_size(width: int, height: int, size: int) -> tuple[int, int]:
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb(img):
    """Any Pillow mode -> 8-bit RGB; transparency becomes white."""
    import numpy as np
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey (PNG) or 32-bit int: scale to 8 bits instead of clipping (convert("L") clips at 255).
        arr = np.asarray(img, dtype=np.uint32 if img.mode == "I" else np.uint16)
        top = 65535 if arr.max(initial=0) > 255 else 255
        img = Image.fromarray((arr.astype(np.float32) * (255.0 / top)).clip(0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        img = Image.fromarray((arr * (255.0 if arr.max(initial=0) <= 1.0 else 1.0)).clip(0, 255).astype(np.uint8))
    if img.mode == "P" or img.mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("LA", "La", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    if img.mode != "RGB":
        return img.convert("RGB")
    return img


def _pad_and_encode(img, rules: ImageRules) -> bytes:
    from PIL import Image

    size = rules.size
    target = _target_size(*img.size, size)
    if img.size != target:
        # reducing_gap: a fast box reduction first, then bicubic; visually the same as bicubic alone.
        img = img.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=rules.jpeg_quality)
    return out.getvalue()


def process_file(path: str, rules: ImageRules) -> bytes:
    """Read ``path`` and return the example JPEG (raises :class:`ImageDrop`)."""
    return decode_resize_encode(read_file(path), rules)
