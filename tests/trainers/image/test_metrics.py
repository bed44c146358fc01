"""metrics: the tagging metrics training and evaluation share, against hand-computed values and scikit-learn, and
the measurement behind the one threshold method."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve

from acg2vec.trainers.image.metrics import (
    THRESHOLD_METHOD,
    average_precisions,
    f1_scores,
    frequency_baseline,
    macro_map,
    p_eq_r_threshold,
    thresholds_json,
    tune_thresholds,
)

pytestmark = pytest.mark.unit

# Two tags, four images. Flattened and sorted: 0.9+ 0.8+ 0.7+ 0.65- 0.6+ 0.3- 0.2- 0.1-, four positives,
# so precision = recall = 3/4 at the fourth score (0.65).
Y_TRUE = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=bool)
Y_SCORE = np.array([[0.9, 0.2], [0.6, 0.7], [0.65, 0.8], [0.1, 0.3]])


def test_p_eq_r_threshold_hand_computed():
    assert p_eq_r_threshold(Y_TRUE, Y_SCORE) == pytest.approx(0.65)


def test_f1_at_threshold_hand_computed_and_matches_sklearn():
    pred = Y_SCORE >= 0.65
    micro, macro, per_tag, precision, recall = f1_scores(Y_TRUE, pred)
    # tag smile: TP 1, FP 1, FN 1 -> 0.5; tag hat: perfect -> 1.0; micro: TP 3, FP 1, FN 1 -> 0.75
    assert per_tag.tolist() == pytest.approx([0.5, 1.0])
    assert micro == pytest.approx(0.75)
    assert macro == pytest.approx(0.75)
    assert precision == pytest.approx(0.75) and recall == pytest.approx(0.75)
    assert micro == pytest.approx(f1_score(Y_TRUE, pred, average="micro"))
    assert macro == pytest.approx(f1_score(Y_TRUE, pred, average="macro"))


def test_macro_f1_skips_tags_without_positives():
    y_true = np.array([[1, 0], [0, 0]], dtype=bool)
    y_pred = np.array([[1, 1], [0, 0]], dtype=bool)
    _, macro, _, _, _ = f1_scores(y_true, y_pred)
    assert macro == pytest.approx(1.0)  # the second tag has no positive and does not drag the mean to 0.5


def test_average_precision_hand_computed_and_matches_sklearn():
    ap = average_precisions(Y_TRUE, Y_SCORE)
    # smile ranks 0.9+ 0.65- 0.6+ 0.1-: (1/1 + 2/3) / 2; hat ranks its two positives first: 1.0
    assert ap.tolist() == pytest.approx([(1 + 2 / 3) / 2, 1.0])
    assert ap.mean() == pytest.approx(average_precision_score(Y_TRUE, Y_SCORE, average="macro"))


def test_macro_map_perfect_random_and_baseline():
    y = np.array([[1, 0], [0, 1], [1, 0], [0, 0]], np.float32)
    assert macro_map(y, y * 0.9 + 0.05) == pytest.approx(1.0)
    # A constant score ranks nothing: its AP is the tag's prevalence, whatever the constant.
    assert macro_map(y, frequency_baseline([30, 5], len(y))) == pytest.approx((0.5 + 0.25) / 2)
    # Tags without positives are left out rather than counted as 0.
    with_empty = np.concatenate([y, np.zeros((4, 1), np.float32)], axis=1)
    assert macro_map(with_empty, np.concatenate([y, np.zeros((4, 1))], axis=1)) == pytest.approx(1.0)
    assert np.isnan(macro_map(np.zeros((2, 2)), np.ones((2, 2))))


def test_frequency_baseline_scales_counts_into_0_1():
    scores = frequency_baseline([100, 10, 0], 3)
    assert scores.shape == (3, 3) and scores[0].tolist() == pytest.approx([1.0, 0.1, 0.0])


def test_tune_thresholds_maximises_f1_per_tag():
    default, thresholds = tune_thresholds(Y_TRUE, Y_SCORE)
    _, _, per_tag, _, _ = f1_scores(Y_TRUE, thresholds[None, :] <= Y_SCORE)
    # smile: a threshold at or below 0.6 keeps both positives and one negative -> F1 0.8, better than 0.5 at 0.65.
    assert per_tag.tolist() == pytest.approx([0.8, 1.0])
    assert default in np.round(np.linspace(0.05, 0.95, 19), 10)


def test_tags_without_positives_take_the_best_micro_f1_grid_point():
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], np.float32)
    scores = np.array([[0.8, 0.1, 0.3], [0.7, 0.35, 0.2], [0.2, 0.3, 0.1], [0.1, 0.05, 0.4]], np.float32)
    tuned = thresholds_json(y, scores, ["a", "b", "c"])
    assert set(tuned) == {"method", "default", "thresholds"} and tuned["method"] == THRESHOLD_METHOD
    assert 0.2 < tuned["thresholds"]["a"] <= 0.7
    assert 0.1 < tuned["thresholds"]["b"] <= 0.3
    assert tuned["thresholds"]["c"] == tuned["default"]


def _exact_pr_curve_thresholds(y_true: np.ndarray, y_score: np.ndarray) -> np.ndarray:
    """The other candidate method: each tag's best-F1 point of its exact precision-recall curve."""
    out = np.full(y_true.shape[1], 0.5)
    for t in np.flatnonzero(y_true.any(axis=0)):
        precision, recall, thresholds = precision_recall_curve(y_true[:, t], y_score[:, t])
        f1 = np.divide(
            2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=precision + recall > 0
        )
        out[t] = thresholds[int(np.argmax(f1[:-1]))]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_grid_loses_no_held_out_f1_against_the_exact_curve(seed):
    # 400 images x 200 long-tailed tags with noisy scores; tune on one half, score the other.
    rng = np.random.default_rng(seed)
    prevalence = np.clip(rng.pareto(1.2, 200) * 0.01 + 0.005, 0, 0.5)
    y = rng.random((400, 200)) < prevalence
    logits = rng.normal(0, 1, y.shape) + rng.uniform(0.5, 3.0, 200) * y + np.log(prevalence / (1 - prevalence))
    scores = 1 / (1 + np.exp(-logits))
    tune, held_out = slice(0, 200), slice(200, 400)
    grid = tune_thresholds(y[tune], scores[tune])[1]
    exact = _exact_pr_curve_thresholds(y[tune], scores[tune])
    grid_micro, grid_macro, *_ = f1_scores(y[held_out], scores[held_out] >= grid)
    exact_micro, exact_macro, *_ = f1_scores(y[held_out], scores[held_out] >= exact)
    assert grid_macro >= exact_macro and grid_micro > exact_micro + 0.05
