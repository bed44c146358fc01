"""Perceptual hashes of images and the pairs of them within a Hamming distance, for near-duplicate search.

The hash is ImageHash's DCT hash (``phash``) with ``hash_size`` 16: 256 bits from the low frequencies of the
greyscale picture. Re-encoding, resizing and recolouring move few bits; another picture moves many. Measured on
the learnability world (1,000 pictures at 128 px, 100 re-uploads): re-encodes, resizes and recolours within 6 of
256 bits of their original, the closest two different pictures 36 apart, while the 64-bit hash (``hash_size`` 8)
put different pictures 2 bits apart. A crop shifts the picture and with it the hash (up to 92 bits): crops are
left to the embedding search (:mod:`acg2vec.curation.duplicates`).

Pairs within a distance are found by FAISS's exact binary index (``IndexBinaryFlat.range_search``), in batches of
queries, so memory stays at one batch of results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from acg2vec.imaging import ImageDrop, decode_bytes

HASH_SIZE = 16  # 16 x 16 = 256 bits
OnBad = Callable[[int, ImageDrop], None]


def image_hash(data: bytes, *, hash_size: int = HASH_SIZE) -> np.ndarray:
    """The packed bits (uint8, ``hash_size ** 2 / 8`` bytes) of the perceptual hash of an encoded image; raises
    :class:`~acg2vec.imaging.ImageDrop` for bytes that are no image."""
    import imagehash

    bits = imagehash.phash(decode_bytes(data), hash_size=hash_size).hash.flatten()
    return np.packbits(bits)


def hash_images(
    images: Sequence[bytes], *, hash_size: int = HASH_SIZE, on_bad: OnBad | None = None, advance=None
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of ``images``: packed bits ``[n, bytes]`` (zeros where an image could not be read) and a bool mask of
    the images that were read; ``on_bad(index, drop)`` is told of each one that was not."""
    out = np.zeros((len(images), hash_size * hash_size // 8), dtype=np.uint8)
    ok = np.zeros(len(images), dtype=bool)
    for i, data in enumerate(images):
        try:
            out[i] = image_hash(data, hash_size=hash_size)
            ok[i] = True
        except ImageDrop as drop:
            if on_bad is not None:
                on_bad(i, drop)
        if advance is not None:
            advance(1)
    return out, ok


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
