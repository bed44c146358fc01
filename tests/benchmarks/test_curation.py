"""benchmarks/curation.py's own parts: its flag figures are scored against the truth (a planted world where the
precision and recall are known by construction), fixes are applied as flagged, and the tagger summary's margin and
spread are the runs' means and ranges. The whole loop on a tiny learnability world (three taggers) is slow."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tests.benchmarks.scripts import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("curation")


def planted_outcome(n: int = 300, seed: int = 0):
    """A curation outcome whose flags are known: three general tags; 10 missing labels the model is sure of (found),
    5 missing ones it does not see (never found), 5 absent tags it is wrongly sure of (false flags); 4 wrong labels
    it is sure are absent (found) and 4 right labels it wrongly thinks absent (false flags)."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n, 3)) < 0.4
    labels = truth.copy()
    probs = np.where(truth, rng.uniform(0.85, 0.99, truth.shape), rng.uniform(0.01, 0.15, truth.shape))
    cells = iter(rng.permutation([(r, c) for r in range(n) for c in range(3)]).tolist())

    def take(count: int, present: bool) -> list[tuple[int, int]]:
        out = []
        while len(out) < count:
            r, c = next(cells)
            if truth[r, c] == present:
                out.append((r, c))
        return out

    for r, c in take(10, True):  # missing, and the model sees it
        labels[r, c], probs[r, c] = False, 0.97
    for r, c in take(5, True):  # missing, and the model does not see it either
        labels[r, c], probs[r, c] = False, 0.05
    for r, c in take(5, False):  # absent and unlabelled, the model wrongly sure it is there
        probs[r, c] = 0.97
    for r, c in take(4, False):  # a wrong label the model sees through
        labels[r, c], probs[r, c] = True, 0.02
    for r, c in take(4, True):  # a right label the model wrongly thinks absent
        probs[r, c] = 0.02
    ids = np.arange(1000, 1000 + n)
    names = ["red_hair", "hat", "cat"]
    true_tags = {int(i): {names[c] for c in np.flatnonzero(truth[k])} for k, i in enumerate(ids)}
    train = SimpleNamespace(ids=ids, labels=labels, probs=probs)
    tags = SimpleNamespace(names=names, categories=["general"] * 3)
    return SimpleNamespace(labels=SimpleNamespace(splits={"train": train}, tags=tags)), true_tags


def test_flag_figures_are_scored_against_the_truth(bench):
    from acg2vec.curation.label_issues import IssueConfig

    outcome, truth = planted_outcome()
    q = bench.variant_quality(outcome, truth, IssueConfig(wrong_ranking="self_confidence"))
    assert q["missing"]["true_errors"] == 15 and q["missing"]["flagged"] == 15 and q["missing"]["right"] == 10
    assert q["missing"]["precision"] == pytest.approx(10 / 15) and q["missing"]["recall"] == pytest.approx(10 / 15)
    assert q["wrong"]["true_errors"] == 4 and q["wrong"]["flagged"] == 8 and q["wrong"]["right"] == 4
    assert q["wrong"]["precision"] == pytest.approx(0.5) and q["wrong"]["recall"] == 1.0
    # the same figures against the noisy labels as if they were true: no error to find, every flag false
    as_labelled = {int(i): {outcome.labels.tags.names[c] for c in np.flatnonzero(row)}
                   for i, row in zip(outcome.labels.splits["train"].ids, outcome.labels.splits["train"].labels,
                                     strict=True)}  # fmt: skip
    blind = bench.variant_quality(outcome, as_labelled, IssueConfig(wrong_ranking="self_confidence"))
    assert blind["missing"]["true_errors"] == 0 and blind["missing"]["right"] == 0


def test_fixes_add_missing_and_remove_wrong_tags_of_known_posts_only(bench):
    labels = {1: {"red_hair": "general", "hat": "general"}, 2: {"cat": "general"}}
    issues = pd.DataFrame(
        {
            "post_id": [1, 2, 2, 99],
            "tag": ["cat", "cat", "hat", "hat"],
            "kind": ["missing", "wrong", "missing", "missing"],
        }
    )
    fixed = bench.apply_fixes(labels, issues, {"cat": "general", "hat": "general", "red_hair": "general"})
    assert fixed == {1: {"red_hair": "general", "hat": "general", "cat": "general"}, 2: {"hat": "general"}}
    assert labels[2] == {"cat": "general"}  # the noisy labels are not changed in place


def test_the_summary_margin_is_the_difference_of_means_beside_each_side_s_spread(bench):
    def tagger(true_f1: float) -> dict:
        figures = {"micro_f1_at_p_eq_r": true_f1, "macro_map": true_f1 - 0.1}
        return {"scores": {"true": figures, "noisy": figures, "curated": figures}}

    row = {"taggers": {"noisy": [tagger(0.70), tagger(0.74)], "curated": [tagger(0.75), tagger(0.76)]}}
    s = bench.summary(row)["true:micro_f1_at_p_eq_r"]
    assert s["noisy"]["mean"] == pytest.approx(0.72) and s["noisy"]["spread"] == pytest.approx(0.04)
    assert s["curated"]["spread"] == pytest.approx(0.01) and s["margin"] == pytest.approx(0.035)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_tiny_run_scores_its_flags_against_the_pictures_truth(bench, tmp_path):
    """The whole loop (two taggers of one epoch on 120 posts at 32 px): the true errors it counts are the
    pictures' own missing tags among the scored tags."""
    args = argparse.Namespace(
        seed=0, val=20, test=20, image_size=32, epochs=1, batch_size=32, folds=3, min_positives=5,
        filter_by="prune_by_noise_rate", min_confidence=0.5, kinds=["missing"], seeds=[0], noisy_model=None,
    )  # fmt: skip
    saved = []
    row = bench.run_one(args, 120, 0.3, tmp_path, saved.append)
    scores = np.load(tmp_path / "scores.npz")
    names = scores["tags"].tolist()
    world = bench.make_world(0)
    pictures = [bench.make_picture(i + 1, 0, world, missing_rate=0.3) for i in range(120)]
    labels = scores["train_labels"]
    scored = labels.sum(axis=0) >= 5
    missing = sum(
        1
        for p in pictures
        for t in p.missing_tags
        if t in names and scored[names.index(t)] and p.labels.get(t) is None
    )
    assert row["flags"]["train"]["missing"]["true_errors"] == missing > 0
    assert (scores["train_true"] != labels).any() and len(saved) == 1
    assert set(row["taggers"]) == {"noisy", "curated"} and len(row["taggers"]["curated"]) == 1
    assert row["curation_over_training_cpu"] > 0 and "true:macro_map" in bench.summary(row)


def test_under_prediction_is_measured_on_general_tags_at_a_fixed_threshold(bench):
    y = np.array([[1, 1, 0], [1, 0, 1]], dtype=bool)  # the last column is an artist tag, left out
    scores = np.array([[0.9, 0.4, 0.2], [0.3, 0.6, 0.9]])
    u = bench.under_prediction(y, scores, np.array([True, True, False]))
    assert u["mass_over_positives"] == pytest.approx((0.9 + 0.4 + 0.3 + 0.6) / 3)
    assert u["mean_p_of_positives"] == pytest.approx((0.9 + 0.4 + 0.3) / 3)
    assert (u["precision_at_0.5"], u["recall_at_0.5"], u["f1_at_0.5"]) == pytest.approx((0.5, 1 / 3, 0.4))
