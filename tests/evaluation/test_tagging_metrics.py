"""Tagging metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score

from acg2vec.errors import UserError
from acg2vec.evaluation.tagging_metrics import (
    TagInfo,
    average_precisions,
    f1_scores,
    p_eq_r_threshold,
    plot_pr_curves,
    rare_slices,
    tagging_metrics,
    tune_thresholds,
)

pytestmark = pytest.mark.unit

# Two tags, four images. Flattened and sorted: 0.9+ 0.8+ 0.7+ 0.65- 0.6+ 0.3- 0.2- 0.1-, four positives,
# so precision = recall = 3/4 at the fourth score (0.65).
Y_TRUE = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=bool)
Y_SCORE = np.array([[0.9, 0.2], [0.6, 0.7], [0.65, 0.8], [0.1, 0.3]])
INFO = TagInfo(names=["smile", "hat"], categories=["general", "general"], counts=np.array([100, 10]))


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


def test_tune_thresholds_maximises_f1_per_tag():
    thresholds = tune_thresholds(Y_TRUE, Y_SCORE)
    _, _, per_tag, _, _ = f1_scores(Y_TRUE, thresholds[None, :] <= Y_SCORE)
    # smile: threshold 0.6 keeps both positives and one negative -> F1 0.8, better than 0.5 at 0.65.
    assert per_tag.tolist() == pytest.approx([0.8, 1.0])


def test_tagging_metrics_model_beside_frequency_baseline():
    result = tagging_metrics(Y_TRUE, Y_SCORE, INFO, thresholds=np.array([0.65, 0.65]))
    model, baseline = result["overall"]["model"], result["overall"]["baseline"]
    assert result["p_eq_r_threshold"] == pytest.approx(0.65)
    assert model["micro_f1_at_p_eq_r"] == pytest.approx(0.75)
    assert model["macro_f1_tuned"] == pytest.approx(0.75)
    assert model["macro_map"] == pytest.approx(((1 + 2 / 3) / 2 + 1.0) / 2)
    # A constant score per tag ranks nothing: its AP is the tag's positive rate (1/2 for both tags here).
    assert baseline["macro_map"] == pytest.approx(0.5)
    assert model["macro_map"] > baseline["macro_map"]
    assert set(result["per_category"]) == {"general"}
    assert not result["thresholds_tuned_on_eval_data"]
    assert "accuracy" not in str(result)


def test_rare_slices_split_by_training_count():
    slices = rare_slices(np.array([1, 2, 3, 50, 60, 70, 500, 600, 700]))
    masks = list(slices.values())
    assert [m.sum() for m in masks] == [3, 3, 3]
    assert masks[0][:3].all() and masks[2][-3:].all()


def test_shape_mismatch_is_a_user_error():
    with pytest.raises(UserError, match="selected_tags.csv"):
        tagging_metrics(Y_TRUE, Y_SCORE, TagInfo(["a"], ["general"], np.array([1])))


def test_pr_curve_plot_is_written(tmp_path):
    path = plot_pr_curves(Y_TRUE, Y_SCORE, INFO, str(tmp_path / "pr.png"), p_eq_r=0.65)
    assert (tmp_path / "pr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.endswith("pr.png")
