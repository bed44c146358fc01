"""cleanlab per tag on synthetic probabilities, and the folds of cross-fitting (no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.curation.label_issues import IssueConfig, cooccurrence_pmi, find_tag_issues
from acg2vec.curation.pred_probs import HeadConfig, cross_fitted_probabilities, fold_ids
from acg2vec.errors import UserError


def planted(n: int = 200, seed: int = 0):
    """Two general tags and an artist tag; post 3 misses tag 0, post 5 wrongly carries tag 1."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n, 3)) < 0.4
    probs = np.where(truth, rng.uniform(0.85, 0.99, truth.shape), rng.uniform(0.01, 0.15, truth.shape))
    labels = truth.copy()
    truth[3, 0], labels[3, 0] = True, False
    probs[3, 0] = 0.97
    truth[5, 1], labels[5, 1] = False, True
    probs[5, 1] = 0.02
    return labels, probs, ["general", "general", "artist"]


@pytest.mark.unit
def test_a_missing_and_a_wrong_label_are_found_and_nothing_else():
    labels, probs, categories = planted()
    found = find_tag_issues(labels, probs, categories=categories)
    got = {(int(r), int(c), str(k)) for r, c, k in zip(found.rows, found.cols, found.kinds, strict=True)}
    assert got == {(3, 0, "missing"), (5, 1, "wrong")}
    assert found.confidence.min() > 0.9 and found.counts["missing"] == found.counts["wrong"] == 1
    assert found.counts["tags_scored"] == 2 and found.counts["tags_of_other_categories"] == 1
    only_missing = find_tag_issues(labels, probs, IssueConfig(kinds=("missing",)), categories=categories)
    assert list(zip(only_missing.rows, only_missing.kinds, strict=True)) == [(3, "missing")]


@pytest.mark.unit
def test_rare_tags_and_other_categories_are_counted_not_scored():
    labels, probs, categories = planted()
    labels[:, 2] = False
    labels[:3, 2] = True  # three positives: below min_positives
    probs[10, 2] = 0.99  # a confident absent artist tag would be "missing" if artists were scored
    found = find_tag_issues(labels, probs, IssueConfig(min_positives=5, categories=None), categories=categories)
    assert not found.scored_tags[2] and found.counts["tags_too_rare"] == 1
    labels[:, 2] = np.arange(len(labels)) % 2 == 0
    everything = find_tag_issues(labels, probs, IssueConfig(categories=None))
    general = find_tag_issues(labels, probs, categories=categories)
    assert everything.scored_tags[2] and not general.scored_tags[2]
    with pytest.raises(UserError, match="unknown cleanlab filter"):
        find_tag_issues(labels, probs, IssueConfig(filter_by="vibes"), categories=categories)


@pytest.mark.unit
def test_a_wrong_tag_its_other_labels_exclude_outranks_right_labels_the_model_finds_hard():
    """Solo posts with one hair colour (red or blue) and an independent hat. Post 7 is red-haired and wrongly
    labelled blue too; posts 8 (blue) and 9 (hat) are right, with image probabilities lower than post 7's."""
    rng = np.random.default_rng(0)
    n = 300
    labels = np.zeros((n, 4), dtype=bool)  # red_hair, blue_hair, solo, hat
    red = rng.random(n) < 0.5
    labels[:, 0], labels[:, 1], labels[:, 2], labels[:, 3] = red, ~red, True, rng.random(n) < 0.4
    probs = np.where(labels, rng.uniform(0.8, 0.99, labels.shape), rng.uniform(0.01, 0.1, labels.shape))
    labels[7, :2] = True
    probs[7, 1], probs[8, :2], probs[9, 3] = 0.06, (0.02, 0.04), 0.04
    labels[8, :2], labels[9, 3] = (False, True), True
    categories = ["general"] * 4

    def wrong_order(ranking: str) -> list[tuple[int, int]]:
        found = find_tag_issues(labels, probs, IssueConfig(wrong_ranking=ranking), categories=categories)
        pick = found.kinds == "wrong"
        return list(zip(found.rows[pick].tolist(), found.cols[pick].tolist(), strict=True))

    by_image = wrong_order("self_confidence")  # cleanlab's: the image probability alone
    assert {(7, 1), (8, 1), (9, 3)} <= set(by_image) and by_image.index((7, 1)) > by_image.index((8, 1))
    assert wrong_order("cooccurrence")[0] == (7, 1)  # red and blue hair never meet on a solo post
    pmi = cooccurrence_pmi(labels)
    assert pmi[0, 1] < -2 and abs(pmi[2, 3]) < 0.1 and pmi[0, 0] == 0
    with pytest.raises(UserError, match="unknown wrong-tag ranking"):
        find_tag_issues(labels, probs, IssueConfig(wrong_ranking="vibes"), categories=categories)


@pytest.mark.unit
def test_folds_are_balanced_and_follow_post_ids_not_order():
    ids = np.arange(100, 200)
    folds = fold_ids(ids, 5)
    assert np.bincount(folds).tolist() == [20] * 5
    shuffled = np.random.default_rng(1).permutation(len(ids))
    assert (fold_ids(ids[shuffled], 5) == folds[shuffled]).all()
    with pytest.raises(UserError, match="cannot be split into 5 folds"):
        fold_ids(ids[:3], 5)


@pytest.mark.unit
def test_cross_fitting_predicts_each_post_from_the_other_folds():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = np.stack([x[:, 0] > 0, x[:, 1] > 0.5], axis=1)
    y[7, 0] = ~y[7, 0]  # a flipped label: the other folds do not learn it
    folds = fold_ids(np.arange(120), 3)
    oof, rest = cross_fitted_probabilities(x, y, folds, HeadConfig(hidden=8, epochs=200, learning_rate=1e-2),
                                           others=x[:10])  # fmt: skip
    assert oof.shape == y.shape and rest.shape == (10, 2)
    assert abs(oof[7, 0] - float(x[7, 0] > 0)) < 0.5  # the flipped post is predicted by its picture, not its label
    assert ((oof > 0.5) == y).mean() > 0.9
