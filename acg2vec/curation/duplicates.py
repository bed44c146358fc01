"""Near-duplicates of ``acg2vec curate``: the same picture uploaded again re-encoded, resized, lightly cropped or
recoloured, grouped, with the split leak they cause counted.

A numbered recipe (:func:`find_duplicates`):

1. perceptual hashes of every image and of a few fixed sub-windows of it (:mod:`acg2vec.curation.perceptual_hash`);
   images that cannot be read are counted and dead-lettered under ``undecodable-image``, never grouped;
2. hash pairs: every two images within ``max_hash_distance`` bits (FAISS's exact binary range search); window
   pairs: every image whose full hash is within ``max_window_distance`` bits of a sub-window hash of another (a
   light crop);
3. embedding pairs, when embeddings are given (illust2vec or a tagger's): every two images whose cosine similarity
   is at least ``min_cosine`` (FAISS range search on an inner-product index of the normalised vectors, the same
   metric as the project's image indexes) and whose hashes are at most ``verify_hash_distance`` bits apart.
   A tagger's embedding links different pictures with the same tags: off by default (see :class:`DuplicateConfig`);
4. groups: the connected components of the union of the pair sets (scipy's ``connected_components``);
5. rows of ``duplicates.parquet`` (:mod:`acg2vec.datasets.acg_illustrations.curation_files`): per member, its
   group, split, the distance to its closest other member (hash or window: differing bits / all bits; embedding:
   1 - cosine; the smallest) and the method that linked it (``hash``; ``window``, a sub-window's hash only;
   ``embedding``; ``both``, an embedding pair that a hash also links), and the counts: groups, posts, pairs by
   method and the split leak (pairs across splits, train-test pairs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from acg2vec.curation.perceptual_hash import (
    HASH_SIZE,
    crop_windows,
    hash_images,
    hash_pairs,
    refined_window_distances,
    window_pairs,
)
from acg2vec.datasets.acg_illustrations.curation_files import DUPLICATE_COLUMNS, duplicate_counts
from acg2vec.deadletter import DeadLetters

log = logging.getLogger(__name__)

HASH, WINDOW, EMBEDDING, BOTH = "hash", "window", "embedding", "both"
METHODS = (HASH, WINDOW, EMBEDDING, BOTH)


@dataclass(frozen=True, slots=True)
class DuplicateConfig:
    """The thresholds of near-duplicate search (what the run's manifest records as its parameters).

    ``max_hash_distance``: of the ``hash_size ** 2`` bits. Chosen on the learnability world's planted re-uploads
    (``benchmarks/near_duplicates.py``, 21,100 posts at 64 px): at 16 bits one re-encoded recolour in 50 was
    missed, at 24 pair precision fell to 0.98 (0.999 at 16), so 20.

    ``crop_margins`` / ``window_candidates`` / ``max_window_distance``: light crops (3-8 % of each side) move the
    full hash as far as another picture, so each image is also hashed in ``len(crop_margins) ** 4`` sub-windows
    (those margins cut from its sides); an image whose full hash is within ``window_candidates`` bits of one of
    another's windows is a candidate, the window is then moved by ``refine_step`` on each side (81 boxes) and the
    pair is linked when the closest of those is within ``max_window_distance`` bits. Chosen on the same planted
    world (``benchmarks/near_duplicates.py``, 21,100 posts): at 12 bits crop recall 0.78 at pair precision 0.987
    (re-encode / resize precision 0.973); at 14, 0.84 / 0.980 / 0.960; at 20, 0.96 / 0.888 / 0.787, below the
    issue's 0.95. ``crop_margins=()`` turns it off.

    ``min_cosine``: embedding search, off by default (None). Measured with the learnability world's tagger
    (deepdanbooru trained on 5,000 of its posts): its embedding puts different pictures with the same tags close
    (cosine >= 0.95 linked 9,388 pairs among 5,275 posts, 97 % of them two different pictures), and even with its
    pairs checked against the hashes (``verify_hash_distance``, 64 bits) pair precision fell to 0.68 for a crop
    recall of 0.31. Turn it on with an embedding that tells pictures apart, after measuring it with
    ``benchmarks/near_duplicates.py --model``; embedding pairs then also need hashes at most
    ``verify_hash_distance`` bits apart (None: no check)."""

    hash_size: int = HASH_SIZE
    max_hash_distance: int = 20
    crop_margins: tuple[float, ...] = (0.04, 0.07)
    window_candidates: int = 44
    refine_step: float = 0.0075
    max_window_distance: int = 12
    min_cosine: float | None = None
    verify_hash_distance: int | None = 64
    batch: int = 4096  # range-search queries per batch

    def parameters(self) -> dict:
        return {
            "hash": f"phash {self.hash_size}x{self.hash_size}",
            "max_hash_distance": self.max_hash_distance,
            "crop_margins": list(self.crop_margins),
            "window_candidates": self.window_candidates,
            "refine_step": self.refine_step,
            "max_window_distance": self.max_window_distance,
            "min_cosine": self.min_cosine,
            "verify_hash_distance": self.verify_hash_distance,
            "distance": "hash or window: differing bits / all bits; embedding: 1 - cosine; the smallest",
        }


@dataclass(slots=True)
class DuplicateResult:
    """``members``: the rows of ``duplicates.parquet`` (a DataFrame); ``pairs``: every linked pair (``post_a``,
    ``post_b``, ``hash_distance`` and ``window_distance`` in bits or -1, ``cosine`` or NaN, ``method``); ``counts``
    and CPU ``seconds``."""

    members: object  # pandas.DataFrame
    pairs: object  # pandas.DataFrame
    counts: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def embedding_pairs(vectors: np.ndarray, min_cosine: float, *, batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(i, j)``, ``i < j``, of rows whose cosine similarity is at least ``min_cosine``: pairs int64
    ``[m, 2]`` and their cosines float32 ``[m]`` (exact search on an inner-product index of the normalised rows)."""
    import faiss

    from acg2vec.indexes.search import faiss_metric

    x = np.ascontiguousarray(vectors, dtype=np.float32).copy()
    if len(x) < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32)
    faiss.normalize_L2(x)
    index = faiss.IndexFlat(x.shape[1], faiss_metric("ip"))
    index.add(x)
    found_pairs, found_cosines = [], []
    for start in range(0, len(x), batch):
        # An inner-product range search keeps the results above the radius; float32 rounding gets a little slack.
        lims, sims, labels = index.range_search(x[start : start + batch], float(min_cosine) - 1e-5)
        queries = np.repeat(np.arange(start, start + len(lims) - 1), np.diff(lims).astype(np.int64))
        keep = labels > queries
        found_pairs.append(np.stack([queries[keep], labels[keep]], axis=1))
        found_cosines.append(sims[keep])
    return np.concatenate(found_pairs).astype(np.int64), np.concatenate(found_cosines).astype(np.float32)


def group_pairs(n: int, pairs: np.ndarray) -> np.ndarray:
    """Group label per row (connected components of the pairs); rows in no pair get -1. Groups are numbered
    0, 1, ... in the order of their first row."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    labels = np.full(n, -1, dtype=np.int64)
    if not len(pairs):
        return labels
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, components = connected_components(graph, directed=False)
    linked = np.zeros(n, dtype=bool)
    linked[pairs.ravel()] = True
    renumber: dict[int, int] = {}
    for row in np.flatnonzero(linked):
        labels[row] = renumber.setdefault(int(components[row]), len(renumber))
    return labels


def find_duplicates(
    ids: Sequence[int],
    splits: Sequence[str],
    images: Sequence[bytes],
    *,
    embeddings: np.ndarray | None = None,
    config: DuplicateConfig = DuplicateConfig(),
    dead: DeadLetters | None = None,
    advance=None,
) -> DuplicateResult:
    """Near-duplicate groups among posts ``ids`` (their ``splits`` and encoded ``images``, all in one order;
    ``embeddings``: one row per post, or None). ``advance(n)``: progress over the images hashed."""
    import pandas as pd

    ids = np.asarray(ids, dtype=np.int64)
    splits = np.asarray(splits, dtype=object)
    if not (len(ids) == len(splits) == len(images)) or (embeddings is not None and len(embeddings) != len(ids)):
        raise ValueError("ids, splits, images (and embeddings) must have one row per post")
    seconds: dict[str, float] = {}
    # 1. hashes (unreadable images dead-lettered)
    t = time.process_time()

    def on_bad(index: int, drop) -> None:
        if dead is not None:
            dead.add("undecodable-image", {"id": int(ids[index]), "bytes": len(images[index])}, detail=str(drop))

    boxes = crop_windows(config.crop_margins)
    hashed = hash_images(images, hash_size=config.hash_size, boxes=boxes, on_bad=on_bad, advance=advance)
    hashes, ok = hashed.full, hashed.ok
    seconds["hash"] = time.process_time() - t
    # 2. hash and window pairs, among the readable images only
    t = time.process_time()
    readable = np.flatnonzero(ok)
    h_pairs, h_dist = hash_pairs(hashes[readable], config.max_hash_distance, batch=config.batch)
    h_pairs = readable[h_pairs] if len(h_pairs) else h_pairs
    w_pairs, w_dist = _crop_pairs(images, readable, hashed, boxes, config)
    seconds["hash_pairs"] = time.process_time() - t
    # 3. embedding pairs
    t = time.process_time()
    e_pairs, e_cos = np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32)
    if embeddings is not None and config.min_cosine is not None:
        e_pairs, e_cos = embedding_pairs(np.asarray(embeddings)[readable], config.min_cosine, batch=config.batch)
        e_pairs = readable[e_pairs] if len(e_pairs) else e_pairs
        if config.verify_hash_distance is not None and len(e_pairs):
            bits = np.unpackbits(np.bitwise_xor(hashes[e_pairs[:, 0]], hashes[e_pairs[:, 1]]), axis=1).sum(axis=1)
            close = bits <= config.verify_hash_distance
            e_pairs, e_cos = e_pairs[close], e_cos[close]
    seconds["embedding_pairs"] = time.process_time() - t
    # 4. groups over the union of both pair sets
    t = time.process_time()
    pairs = _merge_pairs(h_pairs, h_dist, w_pairs, w_dist, e_pairs, e_cos)
    groups = group_pairs(len(ids), pairs[["a", "b"]].to_numpy() if len(pairs) else np.zeros((0, 2), np.int64))
    # 5. rows and counts
    bits = config.hash_size**2
    in_bits = pairs[["hash_distance", "window_distance"]].where(lambda d: d >= 0).min(axis=1) / bits
    pairs["distance"] = np.fmin(in_bits.to_numpy(dtype=np.float64), 1.0 - pairs["cosine"].to_numpy())
    members = _members(ids, splits, groups, pairs)
    seconds["group"] = time.process_time() - t
    out_pairs = pd.DataFrame(
        {
            "post_a": ids[pairs["a"].to_numpy(dtype=np.int64)],
            "post_b": ids[pairs["b"].to_numpy(dtype=np.int64)],
            "hash_distance": pairs["hash_distance"].to_numpy(),
            "window_distance": pairs["window_distance"].to_numpy(),
            "cosine": pairs["cosine"].to_numpy(),
            "method": pairs["method"].to_numpy(),
        }
    )
    counts = {
        "posts_checked": len(ids),
        "undecodable": int((~ok).sum()),
        "pairs": {m: int((pairs["method"] == m).sum()) for m in METHODS},
        **duplicate_counts(members),
    }
    log.info(
        "near-duplicates: %d groups of %d posts (%d train-test pairs)",
        counts["groups"],
        counts["posts"],
        counts["train_test_pairs"],
    )
    return DuplicateResult(members=members, pairs=out_pairs, counts=counts, seconds=seconds)


def _crop_pairs(images, readable: np.ndarray, hashed, boxes, config: DuplicateConfig):
    """Window pairs (row numbers ``a < b``) and their refined distances: candidates by the sub-window hashes, kept
    when the finer alignment of the crop brings them within ``max_window_distance``."""
    candidates, window, _ = window_pairs(
        hashed.full[readable], hashed.windows[readable], config.window_candidates, batch=config.batch
    )
    if not len(candidates):
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    candidates = readable[candidates]
    refined = refined_window_distances(
        images, candidates, boxes, window, step=config.refine_step, hash_size=config.hash_size
    )
    keep = refined <= config.max_window_distance
    return np.sort(candidates[keep], axis=1), refined[keep]


def _merge_pairs(h_pairs, h_dist, w_pairs, w_dist, e_pairs, e_cos):
    """One row per linked pair (row numbers ``a < b``) with its hash and window distances (-1: not linked that
    way), cosine (NaN: not linked by embedding) and method."""
    import pandas as pd

    by_hash = pd.DataFrame({"a": h_pairs[:, 0], "b": h_pairs[:, 1], "hash_distance": h_dist})
    by_window = pd.DataFrame({"a": w_pairs[:, 0], "b": w_pairs[:, 1], "window_distance": w_dist})
    by_embedding = pd.DataFrame({"a": e_pairs[:, 0], "b": e_pairs[:, 1], "cosine": e_cos.astype(np.float64)})
    pairs = by_hash.merge(by_window, on=["a", "b"], how="outer").merge(by_embedding, on=["a", "b"], how="outer")
    for column in ("hash_distance", "window_distance"):
        pairs[column] = pairs[column].fillna(-1).astype(np.int64)
    has_hash, has_window = pairs["hash_distance"] >= 0, pairs["window_distance"] >= 0
    has_embedding = pairs["cosine"].notna()
    pairs["method"] = np.select(
        [has_embedding & (has_hash | has_window), has_embedding, has_hash], [BOTH, EMBEDDING, HASH], WINDOW
    )
    return pairs.sort_values(["a", "b"]).reset_index(drop=True)


def _members(ids: np.ndarray, splits: np.ndarray, groups: np.ndarray, pairs):
    """The rows of ``duplicates.parquet``: each grouped post with its closest link's distance and method."""
    import pandas as pd

    if not len(pairs):
        return pd.DataFrame({**{c: [] for c in DUPLICATE_COLUMNS}, "method": []}).astype(
            {"group_id": "int64", "post_id": "int64", "distance": "float64"}
        )
    ends = pd.concat(
        [pairs[["a", "distance", "method"]].rename(columns={"a": "row"}),
         pairs[["b", "distance", "method"]].rename(columns={"b": "row"})]
    )  # fmt: skip
    closest = ends.sort_values(["row", "distance"]).drop_duplicates("row")
    rows = closest["row"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "group_id": groups[rows],
            "post_id": ids[rows],
            "distance": closest["distance"].to_numpy(dtype=np.float64),
            "split": splits[rows].astype(str),
            "method": closest["method"].to_numpy(),
        }
    ).sort_values(["group_id", "post_id"], ignore_index=True)
