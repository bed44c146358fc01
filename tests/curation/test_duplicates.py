"""Near-duplicates: re-uploads of the learnability world's pictures found by their perceptual hashes, crops by the
hashes of sub-windows (or through embeddings), groups as connected components, the split leak counted, unreadable
images dead-lettered."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.curation.duplicates import DuplicateConfig, embedding_pairs, find_duplicates, group_pairs
from acg2vec.curation.perceptual_hash import crop_windows, hamming, hash_images, hash_pairs, window_pairs
from acg2vec.deadletter import DeadLetters
from acg2vec.sample_site.picture_drawing import draw_picture
from acg2vec.sample_site.pictures import make_picture, make_reupload, make_world

SIZE = 64


@pytest.fixture(scope="module")
def planted():
    """40 pictures, and re-uploads of pictures 1-4 (re-encode, resize, recolour, and a second copy of 1)."""
    world = make_world(0)
    pictures = [make_picture(i, 0, world) for i in range(1, 41)]
    copies = [
        make_reupload(pictures[0], 101, "reencode"),
        make_reupload(pictures[1], 102, "resize"),
        make_reupload(pictures[2], 103, "recolour"),
        make_reupload(pictures[0], 104, "resize"),
    ]
    everything = pictures + copies
    images = [draw_picture(p, world, SIZE) for p in everything]
    ids = [p.id for p in everything]
    splits = ["test" if i in (2, 104) else "train" for i in ids]
    return ids, splits, images


def test_reuploads_are_grouped_with_their_original_and_nothing_else(planted):
    ids, splits, images = planted
    result = find_duplicates(ids, splits, images)
    groups = result.members.groupby("group_id")["post_id"].apply(sorted).tolist()
    assert sorted(groups) == [[1, 101, 104], [2, 102], [3, 103]]
    assert set(result.members["method"]) == {"hash"}
    assert (result.members["distance"] <= DuplicateConfig().max_hash_distance / 256).all()
    # 2 (test) with 102 (train); 104 (test) with 1 and 101 (train)
    assert result.counts["train_test_pairs"] == 3
    assert result.counts["groups"] == 3 and result.counts["extra_posts"] == 4
    assert result.counts["pairs"]["hash"] == len(result.pairs) == 5


def test_an_unreadable_image_is_dead_lettered_and_never_grouped(planted, tmp_path):
    ids, splits, images = planted
    images = list(images)
    images[-1] = b"not an image"
    with DeadLetters(tmp_path / "dead.jsonl", step="Duplicates") as dead:
        result = find_duplicates(ids, splits, images, dead=dead)
    assert dead.counts == {"undecodable-image": 1}
    assert 104 not in set(result.members["post_id"])
    assert result.counts["undecodable"] == 1 and result.counts["posts_checked"] == len(ids)


def test_a_crop_is_found_through_the_embeddings_checked_by_a_loose_hash_bound():
    world = make_world(0)
    pictures = [make_picture(i, 0, world) for i in range(1, 21)]
    everything = [*pictures, make_reupload(pictures[4], 105, "crop"), make_reupload(pictures[0], 101, "reencode")]
    ids = [p.id for p in everything]
    images = [draw_picture(p, world, SIZE) for p in everything]
    hashes = hash_images(images).full
    assert 24 < hamming(hashes[ids.index(5)], hashes[ids.index(105)]) <= 64  # too far for the hash alone
    assert hamming(hashes[ids.index(19)], hashes[ids.index(20)]) > 64
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(ids), 16)).astype(np.float32)
    for copy, original in ((105, 5), (20, 19), (101, 1)):  # 20 is another picture with the same embedding
        vectors[ids.index(copy)] = vectors[ids.index(original)] + 0.01 * rng.normal(size=16)
    splits = ["train"] * len(ids)
    config = DuplicateConfig(min_cosine=0.98, crop_margins=())  # the sub-window hashes off: embeddings alone

    result = find_duplicates(ids, splits, images, embeddings=vectors, config=config)
    methods = dict(zip(result.members["post_id"], result.members["method"], strict=True))
    assert methods == {5: "embedding", 105: "embedding", 1: "both", 101: "both"}
    assert result.counts["pairs"] == {"hash": 0, "window": 0, "embedding": 1, "both": 1}
    unchecked = DuplicateConfig(min_cosine=0.98, verify_hash_distance=None, crop_margins=())
    loose = find_duplicates(ids, splits, images, embeddings=vectors, config=unchecked)
    assert {19, 20} <= set(loose.members["post_id"])  # the embedding alone links two different pictures
    full_hashes = find_duplicates(ids, splits, images, config=DuplicateConfig(crop_margins=()))
    assert set(full_hashes.members["post_id"]) == {1, 101}


def test_a_light_crop_is_found_by_the_hashes_of_sub_windows_and_nothing_else_is():
    world = make_world(0)
    pictures = [make_picture(i, 0, world) for i in range(1, 41)]
    crops = [make_reupload(pictures[k], 200 + k, "crop") for k in (4, 9, 14)]
    everything = [*pictures, *crops, make_reupload(pictures[0], 101, "reencode")]
    ids = [p.id for p in everything]
    images = [draw_picture(p, world, SIZE) for p in everything]
    result = find_duplicates(ids, ["train"] * len(ids), images)  # the default: hashes and sub-window hashes
    groups = sorted(result.members.groupby("group_id")["post_id"].apply(sorted).tolist())
    assert groups == [[1, 101], [5, 204], [10, 209], [15, 214]]
    methods = dict(zip(result.members["post_id"], result.members["method"], strict=True))
    assert {methods[p] for p in (5, 204, 10, 209, 15, 214)} == {"window"} and methods[101] == "hash"
    assert result.counts["pairs"]["window"] == 3 and result.counts["pairs"]["hash"] == 1
    assert (
        result.pairs.loc[result.pairs["method"] == "window", "window_distance"]
        <= DuplicateConfig().max_window_distance
    ).all()


def test_window_pairs_match_brute_force_distances_to_every_window(planted):
    _, _, images = planted
    hashed = hash_images(images[:12], boxes=crop_windows((0.05,)))
    assert hashed.windows.shape == (12, 1, 32)
    pairs, window, distances = window_pairs(hashed.full, hashed.windows, 90, batch=5)
    best: dict[tuple[int, int], int] = {}
    for query in range(12):
        for owner in range(12):
            d = hamming(hashed.full[query], hashed.windows[owner, 0])
            key = (min(query, owner), max(query, owner))
            if query != owner and d <= 90 and d < best.get(key, 10**9):
                best[key] = d
    got = {tuple(sorted(p)): d for p, d in zip(pairs.tolist(), distances.tolist(), strict=True)}
    assert got == best and (window == 0).all()
    assert len(crop_windows((0.04, 0.07))) == 16 and crop_windows(()) == []


def test_embedding_pairs_keep_the_cosine_threshold_inclusive():
    vectors = np.array([[1, 0], [1, 0], [0.6, 0.8], [0, 1]], dtype=np.float32)
    pairs, cosines = embedding_pairs(vectors, 0.6)
    found = {tuple(p): round(float(c), 4) for p, c in zip(pairs.tolist(), cosines, strict=True)}
    assert found == {(0, 1): 1.0, (0, 2): 0.6, (1, 2): 0.6, (2, 3): 0.8}


def test_hash_pairs_match_brute_force_hamming_distances(planted):
    _, _, images = planted
    hashed = hash_images(images)
    hashes, ok = hashed.full, hashed.ok
    assert ok.all() and hashes.shape == (len(images), 32)
    pairs, distances = hash_pairs(hashes, 60, batch=7)  # batches that do not divide the rows
    expected = {
        (i, j): hamming(hashes[i], hashes[j])
        for i in range(len(hashes))
        for j in range(i + 1, len(hashes))
        if hamming(hashes[i], hashes[j]) <= 60
    }
    assert dict(zip(map(tuple, pairs.tolist()), distances.tolist(), strict=True)) == expected


def test_groups_are_connected_components_numbered_by_first_row():
    labels = group_pairs(7, np.array([[4, 5], [0, 2], [2, 3]]))
    assert labels.tolist() == [0, -1, 0, 0, 1, 1, -1]
    assert group_pairs(3, np.zeros((0, 2), dtype=np.int64)).tolist() == [-1, -1, -1]


def test_mismatched_inputs_are_refused(planted):
    ids, splits, images = planted
    with pytest.raises(ValueError, match="one row per post"):
        find_duplicates(ids[:-1], splits, images)
