"""One crawled file -> the example image of ``acg_illustrations``: a ``size`` x ``size`` JPEG on a white square.

Plain functions (no Beam), so they are tested directly and reused by the build benchmark's baseline loop.
Decoding follows :mod:`acg2vec.imaging` (the one set of mode rules and pixel limit); this module adds what is
the dataset's own: reading the file, the shorter-side minimum, JPEG draft decoding and the JPEG it stores.
Files that cannot become an example raise :class:`~acg2vec.imaging.ImageDrop` with one of
:data:`IMAGE_DROP_REASONS`; a file whose bytes do not hash to its post's md5 is ``damaged-file`` (checked before
decoding, so damage is never counted as a truncated or undecodable image).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from acg2vec.imaging import DROP_REASONS, MAX_PIXELS, ImageDrop, decode, fit_size, pad_square, read_header
from acg2vec.integrity import DAMAGED_FILE, DamagedFileError

IMAGE_DROP_REASONS = (
    "file-missing",  # the post names a file that is not there
    DAMAGED_FILE,  # its bytes do not hash to the post's md5 (cut, zeroed, changed, another file)
    *DROP_REASONS,
    "image-too-small",  # shorter side below the build's minimum
)
REPAIR = "acg2vec crawl safebooru"  # re-downloads a post's file that is missing or fails its md5


@dataclass(slots=True)
class ImageRules:
    """How files become example images.

    ``max_pixels`` is the decompression-bomb limit (width x height, checked from the header before decoding).
    ``min_side``: the shorter side of the decoded original must be at least this.
    """

    size: int = 224
    max_pixels: int = MAX_PIXELS
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
    image = read_header(data, rules.max_pixels)
    width, height = image.size
    if min(width, height) < rules.min_side:
        raise ImageDrop("image-too-small", f"{width}x{height}, shorter side < {rules.min_side}")
    if image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK"):
        # JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale straight from the DCT, several times faster for
        # a large source; draft never goes below the requested size.
        image.draft("RGB" if image.mode != "CMYK" else image.mode, fit_size(width, height, rules.size))
    square = pad_square(decode(image), rules.size)
    out = io.BytesIO()
    square.save(out, "JPEG", quality=rules.jpeg_quality)
    return out.getvalue()


def check_md5(path: str, data: bytes, md5: str) -> None:
    """A file that does not hash to its post's md5 is damaged (not the site's image): ``ImageDrop("damaged-file")``
    whose detail is the :class:`~acg2vec.integrity.DamagedFileError` sentence."""
    actual = hashlib.md5(data).hexdigest()  # noqa: S324 - the sites publish md5
    if actual == md5.lower():
        return
    what = "it is empty (0 bytes)" if not data else f"its {len(data):,} bytes hash to md5 {actual}"
    problem = f"{what}, not to the post's md5 {md5.lower()}"
    err = DamagedFileError(path, problem, lost="its post is not in this build", repair=REPAIR)
    raise ImageDrop(DAMAGED_FILE, str(err))


def process_file(path: str, rules: ImageRules, md5: str | None = None) -> bytes:
    """Read ``path`` (checked against ``md5`` when given) and return the example JPEG (raises
    :class:`~acg2vec.imaging.ImageDrop`)."""
    data = read_file(path)
    if md5:
        check_md5(path, data, md5)
    return decode_resize_encode(data, rules)
