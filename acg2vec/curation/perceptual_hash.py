"""Perceptual hashes of images and the pairs of them within a Hamming distance, for near-duplicate search.

The hash is ImageHash's DCT hash (``phash``) with ``hash_size`` 16: 256 bits from the low frequencies of the
greyscale picture. Re-encoding, resizing and recolouring move few bits; another picture moves many. Measured on
the learnability world (1,000 pictures at 128 px, 100 re-uploads): re-encodes, resizes and recolours within 6 of
256 bits of their original, the closest two different pictures 36 apart, while the 64-bit hash (``hash_size`` 8)
put different pictures 2 bits apart.

A crop shifts and rescales the picture, and with it the hash: a 3-8 % crop of each side moves the 256-bit hash
72-118 bits (1,500 pictures at 64 px), as far as different pictures are. So each image is also hashed in a few
fixed **sub-windows** (:func:`crop_windows`: every combination of the ``margins`` cut from its four sides); a crop
of a picture lies close to one of those windows, so its full hash is close to that window's hash (median 18, at
most 52 bits with margins 4 % and 7 %), while different pictures stay 50 or more bits from each other's windows.
:func:`window_pairs` links every image whose full hash is near a sub-window hash of another.

Pairs within a distance are found by FAISS's exact binary index (``IndexBinaryFlat.range_search``), in batches of
queries, so memory stays at one batch of results.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from acg2vec.imaging import ImageDrop, decode_bytes

HASH_SIZE = 16  # 16 x 16 = 256 bits
OnBad = Callable[[int, ImageDrop], None]
Box = tuple[float, float, float, float]  # left, top, right, bottom: the share cut from each side


def crop_windows(margins: Sequence[float]) -> list[Box]:
    """The fixed sub-windows of an image: every combination of ``margins`` cut from its four sides
    (``len(margins) ** 4`` windows; none for no margins)."""
    return list(itertools.product(margins, repeat=4)) if len(margins) else []


@dataclass(slots=True)
class ImageHashes:
    """Packed hash bits of each image (``full``: ``[n, bytes]``) and of its sub-windows (``windows``:
    ``[n, len(boxes), bytes]``), zeros where an image could not be read; ``ok``: the images that were read."""

    full: np.ndarray
    windows: np.ndarray
    ok: np.ndarray


def _phash(image, hash_size: int) -> np.ndarray:
    import imagehash

    return np.packbits(imagehash.phash(image, hash_size=hash_size).hash.flatten())


def image_hash(data: bytes, *, hash_size: int = HASH_SIZE, boxes: Sequence[Box] = ()) -> np.ndarray:
    """The packed bits (uint8, ``hash_size ** 2 / 8`` bytes) of the perceptual hash of an encoded image, then of
    each sub-window in ``boxes``: ``[1 + len(boxes), bytes]``; raises :class:`~acg2vec.imaging.ImageDrop` for bytes
    that are no image."""
    return image_hash_of(decode_bytes(data), hash_size=hash_size, boxes=boxes)


def image_hash_of(image, *, hash_size: int = HASH_SIZE, boxes: Sequence[Box] = ()) -> np.ndarray:
    """:func:`image_hash` of a decoded (PIL) image."""
    width, height = image.size
    windows = [
        image.crop(
            (round(width * left), round(height * top), round(width * (1 - right)), round(height * (1 - bottom)))
        )
        for left, top, right, bottom in boxes
    ]
    return np.stack([_phash(window, hash_size) for window in (image, *windows)])


def hash_images(
    images: Sequence[bytes],
    *,
    hash_size: int = HASH_SIZE,
    boxes: Sequence[Box] = (),
    on_bad: OnBad | None = None,
    advance=None,
) -> ImageHashes:
    """Hashes of ``images`` and of their sub-windows ``boxes``; ``on_bad(index, drop)`` is told of each image that
    could not be read."""
    out = np.zeros((len(images), 1 + len(boxes), hash_size * hash_size // 8), dtype=np.uint8)
    ok = np.zeros(len(images), dtype=bool)
    for i, data in enumerate(images):
        try:
            out[i] = image_hash(data, hash_size=hash_size, boxes=boxes)
            ok[i] = True
        except ImageDrop as drop:
            if on_bad is not None:
                on_bad(i, drop)
        if advance is not None:
            advance(1)
    return ImageHashes(full=out[:, 0], windows=out[:, 1:], ok=ok)


def hamming(a: np.ndarray, b: np.ndarray) -> int:
    """Bits that differ between two packed hashes."""
    return int(np.unpackbits(np.bitwise_xor(a, b)).sum())


def hash_pairs(hashes: np.ndarray, max_distance: int, *, batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(i, j)``, ``i < j``, of rows of ``hashes`` (packed bits) at most ``max_distance`` bits apart:
    ``pairs`` int64 ``[m, 2]`` and their distances int64 ``[m]``."""
    import faiss

    hashes = np.ascontiguousarray(hashes, dtype=np.uint8)
    n = len(hashes)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    index = faiss.IndexBinaryFlat(hashes.shape[1] * 8)
    index.add(hashes)
    found_pairs, found_distances = [], []
    for start in range(0, n, batch):
        # FAISS keeps the binary results whose distance is below the radius: one more than the largest kept.
        lims, distances, labels = index.range_search(hashes[start : start + batch], max_distance + 1)
        queries = np.repeat(np.arange(start, start + len(lims) - 1), np.diff(lims).astype(np.int64))
        keep = labels > queries  # each pair once, never a row with itself
        found_pairs.append(np.stack([queries[keep], labels[keep]], axis=1))
        found_distances.append(distances[keep])
    return np.concatenate(found_pairs).astype(np.int64), np.concatenate(found_distances).astype(np.int64)


def window_pairs(full: np.ndarray, windows: np.ndarray, max_distance: int, *, batch: int = 4096):
    """Every pair of images where the full hash of one (the *query*) is at most ``max_distance`` bits from the hash
    of a sub-window of the other (the *owner*); ``full``: ``[n, bytes]``, ``windows``: ``[n, w, bytes]``.

    Returns ``pairs`` int64 ``[m, 2]`` (query row, owner row), the owner's window index ``[m]`` and the distance
    ``[m]``: for each unordered pair of images only its closest match."""
    import faiss

    n, w = windows.shape[:2]
    empty = np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if n < 2 or w == 0:
        return empty
    index = faiss.IndexBinaryFlat(windows.shape[2] * 8)
    index.add(np.ascontiguousarray(windows.reshape(n * w, -1), dtype=np.uint8))
    queries = np.ascontiguousarray(full, dtype=np.uint8)
    found = []
    for start in range(0, n, batch):
        lims, distances, labels = index.range_search(queries[start : start + batch], max_distance + 1)
        rows = np.repeat(np.arange(start, start + len(lims) - 1), np.diff(lims).astype(np.int64))
        owner = labels // w
        keep = owner != rows
        found.append(np.stack([rows[keep], owner[keep], labels[keep] % w, distances[keep]], axis=1))
    matches = np.concatenate(found).astype(np.int64)
    if not len(matches):
        return empty
    low, high = np.minimum(matches[:, 0], matches[:, 1]), np.maximum(matches[:, 0], matches[:, 1])
    order = np.lexsort((matches[:, 3], high, low))  # by unordered pair, closest first
    matches, low, high = matches[order], low[order], high[order]
    first = np.ones(len(matches), dtype=bool)
    first[1:] = (low[1:] != low[:-1]) | (high[1:] != high[:-1])
    matches = matches[first]
    return matches[:, :2], matches[:, 2], matches[:, 3]


def refined_window_distances(
    images: Sequence[bytes], pairs: np.ndarray, boxes: Sequence[Box], window: np.ndarray, *,
    step: float, hash_size: int = HASH_SIZE,
) -> np.ndarray:  # fmt: skip
    """For each (query, owner) pair of :func:`window_pairs`, the smallest distance between the query's full hash and
    the hash of the owner cropped to its matched window moved by -``step``, 0 or +``step`` on each side (81 boxes):
    the crop aligned more finely, on the candidate pairs only."""
    decoded: dict[int, object] = {}

    def image(row: int):
        if row not in decoded:
            decoded[row] = decode_bytes(images[row])
        return decoded[row]

    out = np.zeros(len(pairs), dtype=np.int64)
    moves = (-step, 0.0, step)
    for k, (query, owner) in enumerate(pairs.tolist()):
        target = _phash(image(query), hash_size)
        centre = boxes[int(window[k])]
        near = [tuple(max(0.0, side + move) for side, move in zip(centre, shift, strict=True))
                for shift in itertools.product(moves, repeat=4)]  # fmt: skip
        hashes = image_hash_of(image(owner), hash_size=hash_size, boxes=near)[1:]
        out[k] = int(np.unpackbits(np.bitwise_xor(hashes, target[None]), axis=1).sum(axis=1).min())
    return out
