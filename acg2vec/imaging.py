"""The one way acg2vec turns encoded image bytes into RGB pixels: the build, the models, predict and the server.

- :func:`read_header` opens the bytes and checks the header only (cheap at any size): empty data, a format
  Pillow does not know and more than ``max_pixels`` (a decompression bomb) are refused before any decoding.
- :func:`decode` loads the first frame of an opened image and gives 8-bit RGB (:func:`to_rgb`).
- :func:`to_rgb`: transparency (RGBA, LA, PA, premultiplied RGBa, a palette with a transparent index) is composited
  onto white, as boorus show it; 16-bit grey is scaled to 8 bits (rounded), never clipped; float pixels in
  [0, 1] are scaled to 0-255; CMYK, palette and every other mode are converted.
- :func:`pad_square`: the longest side scaled to ``size`` (bicubic) and the rest padded white (or with the edge
  pixels, as DeepDanbooru pads).

Every refusal is an :class:`ImageDrop` with one of :data:`DROP_REASONS`; callers map the reason to what they
report (a dead letter, an HTTP status). Pillow is imported inside the functions.
"""

from __future__ import annotations

import io
import warnings

# The decompression-bomb limit (width x height from the header). 64 Mpx, 8000 x 8000: the largest booru
# originals (about 10000 x 6000) pass, a decoded 8-bit RGB copy stays under 200 MB.
MAX_PIXELS = 64_000_000

DROP_REASONS = (
    "file-empty",  # zero bytes
    "image-unidentified",  # not an image format Pillow knows (an HTML error page saved as .jpg ...)
    "image-truncated",  # the data ends early
    "image-corrupt",  # Pillow knows the format but cannot decode the data
    "image-too-large",  # more pixels than the decompression-bomb limit
    "image-without-pixels",  # a header that says zero width or height
)
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa")
WHITE = (255, 255, 255)
# Bicubic after a fast box reduction down to 3x the target: visually the same as bicubic alone, much faster
# for large originals; the build, the models and the server resize the same way.
REDUCING_GAP = 3.0


class ImageDrop(Exception):
    """Bytes that cannot become RGB pixels; ``reason`` is one of :data:`DROP_REASONS` (or a caller's own)."""

    def __init__(self, reason: str, detail: str = "", *, size: tuple[int, int] | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.size = size  # (width, height) when the header was read


def read_header(data: bytes, max_pixels: int = MAX_PIXELS):
    """The opened (not decoded) ``PIL.Image`` of ``data`` after its header passed the checks."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageDrop("file-empty")
    try:
        with warnings.catch_warnings():
            # Our own limit runs on the header below; Pillow's warning would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as err:
        raise ImageDrop("image-unidentified", str(err)) from err
    except Image.DecompressionBombError as err:  # past twice Pillow's own limit, far above ours
        raise ImageDrop("image-too-large", str(err)) from err
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise ImageDrop("image-corrupt", str(err) or type(err).__name__) from err
    width, height = image.size
    if width * height > max_pixels:
        raise ImageDrop("image-too-large", f"{width}x{height} > {max_pixels} pixels", size=(width, height))
    if width == 0 or height == 0:
        raise ImageDrop("image-without-pixels", f"{width}x{height}")
    return image


def decode(image):
    """The first frame of an opened image, loaded and converted to 8-bit RGB (:func:`to_rgb`)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.seek(0)  # first frame of an animation
            image.load()
        return to_rgb(image)
    except Image.DecompressionBombError as err:
        raise ImageDrop("image-too-large", str(err)) from err
    except OSError as err:
        reason = "image-truncated" if "truncated" in str(err) else "image-corrupt"
        raise ImageDrop(reason, str(err)) from err
    except (ValueError, SyntaxError, EOFError) as err:
        raise ImageDrop("image-corrupt", str(err) or type(err).__name__) from err


def decode_bytes(data: bytes, max_pixels: int = MAX_PIXELS):
    """Encoded bytes -> 8-bit RGB ``PIL.Image`` (:func:`read_header` then :func:`decode`)."""
    return decode(read_header(data, max_pixels))


def is_plain(image) -> bool:
    """Whether an opened image is one frame of 8-bit RGB or grey JPEG / PNG without transparency: bytes that
    every model's own decoder (TensorFlow's in an acg2vec export) reads exactly as :func:`decode` would."""
    frames = int(getattr(image, "n_frames", 1) or 1)
    plain_mode = image.mode in ("RGB", "L") and "transparency" not in image.info
    return image.format in ("JPEG", "PNG") and plain_mode and frames == 1


def encode_png(image) -> bytes:
    """An RGB image as PNG bytes (fast compression: they are handed to a model, not stored)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def to_rgb(image):
    """Any Pillow mode -> 8-bit RGB; transparency onto white, 16-bit scaled, first-frame palette converted."""
    import numpy as np
    from PIL import Image

    mode = image.mode
    if mode == "RGB":
        return image
    if mode in SIXTEEN_BIT_MODES or mode == "I":
        # 16-bit grey: scale the range down to 8 bits instead of clipping it to white. A 32-bit integer image
        # holding 8-bit values (max <= 255) keeps them.
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode != "I" or pixels.max(initial=0) > 255 else 255.0
        return _grey_to_rgb(pixels * (255.0 / top))
    if mode == "F":
        # Floats in [0, 1] are the usual convention; anything larger is taken as 0-255 already.
        pixels = np.asarray(image, dtype=np.float64)
        return _grey_to_rgb(pixels * (255.0 if pixels.max(initial=0) <= 1.0 else 1.0))
    if mode in ALPHA_MODES or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*WHITE, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    return image.convert("RGB")


def _grey_to_rgb(grey):
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.clip(grey + 0.5, 0, 255).astype(np.uint8), "L").convert("RGB")


def fit_size(width: int, height: int, size: int) -> tuple[int, int]:
    """The size with the longest side ``size`` and the aspect ratio kept (rounded, at least 1 pixel)."""
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def pad_square(image, size: int, *, pad: str = "white"):
    """An RGB image scaled so its longest side is ``size`` and padded to a ``size`` square (centred).

    ``pad``: "white" (the dataset's and most taggers' padding) or "edge" (the edge pixels repeated).
    """
    import numpy as np
    from PIL import Image

    target = fit_size(*image.size, size)
    if image.size != target:
        image = image.resize(target, Image.Resampling.BICUBIC, reducing_gap=REDUCING_GAP)
    left, top = (size - image.width) // 2, (size - image.height) // 2
    if pad == "edge":
        widths = ((top, size - image.height - top), (left, size - image.width - left), (0, 0))
        return Image.fromarray(np.pad(np.asarray(image), widths, mode="edge"))
    canvas = Image.new("RGB", (size, size), WHITE)
    canvas.paste(image, (left, top))
    return canvas
