"""Uploaded images checked before any model sees them: size, pixels, format, frames and colour mode.

Decoding is :mod:`acg2vec.imaging`'s (the one pixel limit and set of mode rules); this module maps its drop
reasons to HTTP statuses. Every rejection is a :class:`BadInput` with an HTTP status and one sentence. The pixel
count is read from the header and checked before decoding, so a small file that would inflate to gigabytes (a
decompression bomb) is refused without allocating it. Animated images give their first frame; CMYK, 16-bit,
palette and transparent images are converted to 8-bit RGB (transparency onto white, as boorus show it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from acg2vec.imaging import ALPHA_MODES, MAX_PIXELS, SIXTEEN_BIT_MODES, ImageDrop, decode, encode_png, read_header

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
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


def _conversion_note(mode: str, transparent: bool) -> str | None:
    """What :func:`acg2vec.imaging.to_rgb` does to an image of ``mode``, said to the client (None for RGB)."""
    if mode == "RGB":
        return None
    if mode in SIXTEEN_BIT_MODES or mode == "I":
        return f"converted {mode} (16-bit) to 8-bit RGB"
    if mode == "F":
        return "converted floating-point pixels to 8-bit RGB"
    if transparent:
        return f"converted {mode} to RGB (transparency onto white)"
    return f"converted {mode} to RGB"


def _too_large(drop: ImageDrop, max_pixels: int) -> BadInput:
    if drop.size:
        width, height = drop.size
        return BadInput(
            413, f"The image is {width} x {height} pixels, over the limit of {max_pixels:,}; send a smaller one."
        )
    return BadInput(413, f"The image has more pixels than the limit of {max_pixels:,}; send a smaller one.")


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


def open_upload(data: bytes, *, max_pixels: int = MAX_PIXELS) -> OpenedUpload:
    """Read and check the image header only (cheap at any size): a non-image, a decompression bomb or an
    image without pixels is refused here before anything is decoded."""
    try:
        image = read_header(data, max_pixels)
    except ImageDrop as drop:
        if drop.reason == "file-empty":
            raise BadInput(400, "The upload is empty; send an image file.") from None
        if drop.reason == "image-too-large":
            raise _too_large(drop, max_pixels) from None
        if drop.reason == "image-without-pixels":
            raise BadInput(422, "The image has no pixels.") from None
        raise BadInput(
            415, "The upload is not an image in a format acg2vec reads (JPEG, PNG, GIF, WebP, BMP)."
        ) from None
    width, height = image.size
    return OpenedUpload(data, image, width, height, image.format or "unknown")


def decode_upload(opened: OpenedUpload, *, max_pixels: int = MAX_PIXELS) -> PreparedImage:
    """Decode an opened upload and normalise it into bytes every model decodes the same way (8-bit RGB JPEG or
    PNG); a truncated or corrupt file is refused here."""
    image, fmt, width, height = opened.image, opened.format, opened.width, opened.height
    notes: list[str] = []
    frames = int(getattr(image, "n_frames", 1) or 1)
    if frames > 1:
        notes.append(f"animated {fmt} with {frames} frames: the first frame was used")
    try:
        converted = decode(image)
    except ImageDrop as drop:
        if drop.reason == "image-too-large":
            raise _too_large(drop, max_pixels) from None
        reason = "it is truncated" if drop.reason == "image-truncated" else "its data is corrupt"
        raise BadInput(422, f"The {fmt} image cannot be decoded: {reason}.") from None
    note = _conversion_note(image.mode, "transparency" in image.info or image.mode in ALPHA_MODES)
    if note:
        notes.append(note)
    if max(width, height) > MODEL_MAX_SIDE:
        converted = converted.copy()
        converted.thumbnail((MODEL_MAX_SIDE, MODEL_MAX_SIDE))
        notes.append(f"scaled down to {converted.width} x {converted.height} for the models")
    if fmt in PASS_THROUGH and not notes:
        return PreparedImage(opened.data, width, height, fmt, notes)
    return PreparedImage(encode_png(converted), width, height, fmt, notes)
