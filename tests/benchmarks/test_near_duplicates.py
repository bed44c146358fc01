"""benchmarks/near_duplicates.py's own parts: the planted truth (pairs of copies of one picture, with their kinds),
pair precision / recall and the leak left after keeping one post per group, on a tiny planted world."""

from __future__ import annotations

import argparse

import pytest

from acg2vec.curation.duplicates import DuplicateConfig
from tests.benchmarks.scripts import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("near_duplicates")


def test_truth_pairs_link_every_copy_of_one_picture(bench):
    pairs = bench.truth_pairs({10: (1, "crop"), 11: (1, "resize"), 12: (2, "reencode")})
    assert pairs == {(1, 10): "crop", (1, 11): "resize", (10, 11): "crop+resize", (2, 12): "reencode"}
    found = {(1, 10), (2, 12), (3, 4)}
    scores = bench.scores(found, pairs)
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 4)
    assert scores["by_kind"]["crop"]["recall"] == 1.0 and scores["by_kind"]["resize"]["recall"] == 0.0
    assert scores["target"] == {"pairs": 2, "recall": 0.5, "precision": 0.5}  # (1,10) is a crop: left out


def test_a_tiny_run_finds_the_planted_reencodes_and_resizes(bench):
    args = argparse.Namespace(reupload_rate=0.1, seed=0, size=64, model=None, window_sweep_max_posts=6000)
    row = bench.run_size(120, args)
    assert row["planted_copies"] == 13  # 12 pictures uploaded again, one of them twice
    assert row["md5"]["recall"] == 0.0  # every copy is other bytes
    assert row["curate"]["target"]["recall"] == 1.0 and row["curate"]["target"]["precision"] == 1.0
    # the sub-window hashes find the crops the full hash alone misses, at no cost in precision here
    assert row["curate"]["by_kind"]["crop"]["recall"] == 1.0 and row["curate"]["precision"] == 1.0
    assert row["hash_only"]["by_kind"]["crop"]["recall"] == 0.0
    at_default = next(
        r for r in row["window_sweep"] if r["max_window_distance"] == DuplicateConfig().max_window_distance
    )
    assert at_default["by_kind"]["crop"]["recall"] == 1.0 and at_default["precision"] == 1.0
    assert row["leak"]["planted_left_after_drop"] <= row["leak"]["planted_train_test_pairs"]
    at_20 = next(r for r in row["sweep"] if r["max_distance"] == 20)
    assert at_20["target"]["recall"] == 1.0 and at_20["precision"] == 1.0
    assert "| 133 | curate |" in bench.report({"sizes": {120: row}})
