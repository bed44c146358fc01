"""Near-duplicate uploads: the same picture uploaded again re-encoded, resized, lightly cropped or recoloured.

One implementation for both worlds that plant them (the sample site's booru in :mod:`acg2vec.sample_site.booru`,
the learnability world in :mod:`acg2vec.sample_site.pictures`), so curation's duplicate finder is measured on the
same kinds of copies everywhere. Every choice comes from the ``rng`` given, so a re-upload is the same bytes each
time it is made.

    image = reupload(original, "crop", random.Random(seed))
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageEnhance

REUPLOAD_KINDS = ("reencode", "resize", "crop", "recolour")


def reupload(image: Image.Image, kind: str, rng: random.Random, *, keep_size: bool = False) -> Image.Image:
    """``image`` as a re-upload of ``kind``; ``keep_size``: scaled back to the original size afterwards (what a
    dataset that resizes every image to one size sees).

    - ``reencode``: JPEG again at a quality of 35-70 (a lossy round trip; the size is kept);
    - ``resize``: scaled to 40-75 % of each side (smaller files, lost detail);
    - ``crop``: 3-8 % cut from each side independently (a border trimmed, the framing moved);
    - ``recolour``: saturation 0.75-1.3, brightness 0.9-1.1 and contrast 0.9-1.1 (a filter or colour profile).
    """
    image = image.convert("RGB")
    width, height = image.size
    if kind == "reencode":
        return jpeg_round_trip(image, rng.randint(35, 70))
    if kind == "resize":
        scale = rng.uniform(0.40, 0.75)
        out = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR)
    elif kind == "crop":
        left, right, top, bottom = (rng.uniform(0.03, 0.08) for _ in range(4))
        box = (round(width * left), round(height * top), round(width * (1 - right)), round(height * (1 - bottom)))
        out = image.crop(box)
    elif kind == "recolour":
        out = ImageEnhance.Color(image).enhance(rng.uniform(0.75, 1.3))
        out = ImageEnhance.Brightness(out).enhance(rng.uniform(0.9, 1.1))
        out = ImageEnhance.Contrast(out).enhance(rng.uniform(0.9, 1.1))
    else:
        raise ValueError(f"unknown re-upload kind {kind!r}; expected one of {REUPLOAD_KINDS}")
    if keep_size and out.size != (width, height):
        out = out.resize((width, height), Image.Resampling.BICUBIC)
    return out


def jpeg_round_trip(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def reupload_jpeg(data: bytes, kind: str, rng: random.Random, *, quality: int = 90, keep_size: bool = False) -> bytes:
    """Encoded image ``data`` -> the JPEG bytes of its re-upload of ``kind`` (see :func:`reupload`)."""
    image = reupload(Image.open(io.BytesIO(data)), kind, rng, keep_size=keep_size)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def choose_kind(rng: random.Random, kinds: tuple[str, ...] = REUPLOAD_KINDS) -> str:
    return kinds[rng.randrange(len(kinds))]
