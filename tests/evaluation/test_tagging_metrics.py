"""The evaluation's tagging report: the model beside the frequency baseline, slices, plots (the metrics themselves
are tested in tests/trainers/image/test_metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary
from acg2vec.errors import UserError
from acg2vec.evaluation.tagging_metrics import plot_pr_curves, rare_slices, tagging_metrics

pytestmark = pytest.mark.unit

# Two tags, four images. Flattened and sorted: 0.9+ 0.8+ 0.7+ 0.65- 0.6+ 0.3- 0.2- 0.1-, four positives,
# so precision = recall = 3/4 at the fourth score (0.65).
Y_TRUE = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=bool)
Y_SCORE = np.array([[0.9, 0.2], [0.6, 0.7], [0.65, 0.8], [0.1, 0.3]])
INFO = TagVocabulary(names=["smile", "hat"], categories=["general", "general"], counts=[100, 10])


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
        tagging_metrics(Y_TRUE, Y_SCORE, TagVocabulary(["a"], ["general"], [1]))


def test_pr_curve_plot_is_written(tmp_path):
    path = plot_pr_curves(Y_TRUE, Y_SCORE, INFO, str(tmp_path / "pr.png"), p_eq_r=0.65)
    assert (tmp_path / "pr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.endswith("pr.png")
