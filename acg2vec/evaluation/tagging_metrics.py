"""Multi-label tagging metrics: F1 at the precision = recall threshold and at tuned thresholds, macro mAP,
per-category and rare-tag slices, beside a tag-frequency baseline. Never plain accuracy: with thousands of
mostly-absent tags, predicting "no tag" everywhere is over 99% accurate.

Macro averages run over the tags that have at least one positive image in the evaluated set (F1 and AP are
undefined for the others); how many tags that is is reported beside them. The metrics themselves (AP, the
baseline, the P = R threshold, threshold tuning) are :mod:`acg2vec.trainers.image.metrics`, the ones training
reports and tunes ``thresholds.json`` with.
"""

from __future__ import annotations

import os

import numpy as np

from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary
from acg2vec.errors import UserError
from acg2vec.evaluation.report import save_figure
from acg2vec.trainers.image.metrics import (
    average_precisions,
    f1_scores,
    frequency_baseline,
    p_eq_r_threshold,
    tune_thresholds,
)


def score_block(
    y_true: np.ndarray, y_score: np.ndarray, thresholds: np.ndarray, p_eq_r: float, *, ap: np.ndarray | None = None
) -> dict:
    """The metric set for one group of tags, at the given global P=R threshold and per-tag thresholds.

    ``ap``: the group's per-tag average precisions when already computed (they do not depend on the group).
    """
    y_true = np.asarray(y_true, dtype=bool)
    y_score = np.asarray(y_score, dtype=np.float64)
    present = y_true.any(axis=0)
    micro_pr, macro_pr, _, precision_pr, recall_pr = f1_scores(y_true, y_score >= p_eq_r)
    micro_t, macro_t, per_tag_t, precision_t, recall_t = f1_scores(y_true, y_score >= thresholds[None, :])
    ap = average_precisions(y_true, y_score) if ap is None else ap
    return {
        "tags": int(y_true.shape[1]),
        "tags_with_positives": int(present.sum()),
        "positives": int(y_true.sum()),
        "micro_f1_at_p_eq_r": micro_pr,
        "macro_f1_at_p_eq_r": macro_pr,
        "precision_at_p_eq_r": precision_pr,
        "recall_at_p_eq_r": recall_pr,
        "micro_f1_tuned": micro_t,
        "macro_f1_tuned": macro_t,
        "precision_tuned": precision_t,
        "recall_tuned": recall_t,
        "macro_map": float(np.nanmean(ap)) if present.any() else float("nan"),
    }


def rare_slices(counts: np.ndarray, *, edges: tuple[float, float] = (1 / 3, 2 / 3)) -> dict[str, np.ndarray]:
    """Masks of rare / middle / frequent tags by training count terciles (names carry the count ranges)."""
    counts = np.asarray(counts)
    low, high = np.quantile(counts, edges, method="lower")  # edges are real counts, not fractions
    masks = {
        f"rare (count <= {low:g})": counts <= low,
        f"middle ({low:g} < count <= {high:g})": (counts > low) & (counts <= high),
        f"frequent (count > {high:g})": counts > high,
    }
    return {name: mask for name, mask in masks.items() if mask.any()}


def tagging_metrics(
    y_true: np.ndarray,
    y_score: np.ndarray,
    tag_info: TagVocabulary,
    *,
    thresholds: np.ndarray | None = None,
) -> dict:
    """All tagging figures of a model beside the tag-frequency baseline.

    ``y_true`` (bool) and ``y_score`` are [images, tags] in the order of ``tag_info``. ``thresholds`` are the
    model's tuned per-tag thresholds; without them they are tuned here on the same data (marked optimistic), by
    the method training uses (:data:`acg2vec.trainers.image.metrics.THRESHOLD_METHOD`).
    The baseline's thresholds are always tuned here, which can only flatter it.
    """
    y_true = np.asarray(y_true, dtype=bool)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.shape != y_score.shape or y_true.ndim != 2:
        raise UserError(f"labels {y_true.shape} and scores {y_score.shape} must both be [images, tags].")
    if y_true.shape[1] != len(tag_info.names):
        raise UserError(
            f"the model gives {y_true.shape[1]} tags but its selected_tags.csv lists {len(tag_info.names)}."
        )
    tuned_here = thresholds is None
    if thresholds is None:
        thresholds = tune_thresholds(y_true, y_score)[1]
    thresholds = np.asarray(thresholds, dtype=np.float64)
    baseline_score = frequency_baseline(tag_info.counts, len(y_true))
    baseline_thresholds = tune_thresholds(y_true, baseline_score)[1]
    thr = p_eq_r_threshold(y_true, y_score)
    base_thr = p_eq_r_threshold(y_true, baseline_score)
    model_ap = average_precisions(y_true, y_score)
    base_ap = average_precisions(y_true, baseline_score)

    def both(mask: np.ndarray) -> dict:
        return {
            "model": score_block(y_true[:, mask], y_score[:, mask], thresholds[mask], thr, ap=model_ap[mask]),
            "baseline": score_block(
                y_true[:, mask], baseline_score[:, mask], baseline_thresholds[mask], base_thr, ap=base_ap[mask]
            ),
        }

    everything = np.ones(y_true.shape[1], dtype=bool)
    categories = np.asarray(tag_info.categories)
    result = {
        "images": int(len(y_true)),
        "p_eq_r_threshold": thr,
        "baseline_p_eq_r_threshold": base_thr,
        "thresholds_tuned_on_eval_data": tuned_here,
        "overall": both(everything),
        "per_category": {str(c): both(categories == c) for c in dict.fromkeys(tag_info.categories)},
        "rare_slices": {name: both(mask) for name, mask in rare_slices(tag_info.counts).items()},
    }
    return result


def plot_pr_curves(
    y_true: np.ndarray, y_score: np.ndarray, tag_info: TagVocabulary, path: str, *, p_eq_r: float | None = None
) -> str:
    """Micro-averaged precision-recall curves: the model overall and per category, and the frequency baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    y_true = np.asarray(y_true, dtype=bool)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.5, 5))

    def curve(truth: np.ndarray, score: np.ndarray, label: str, **style) -> None:
        if truth.sum() == 0:
            return
        precision, recall, _ = precision_recall_curve(truth.ravel(), np.asarray(score).ravel())
        ax.plot(recall, precision, label=label, **style)

    curve(y_true, y_score, "model (all tags)", linewidth=2.2, color="C0")
    categories = np.asarray(tag_info.categories)
    for i, cat in enumerate(dict.fromkeys(tag_info.categories)):
        mask = categories == cat
        curve(y_true[:, mask], y_score[:, mask], f"model: {cat}", linewidth=1, color=f"C{i + 2}")
    curve(
        y_true, frequency_baseline(tag_info.counts, len(y_true)), "tag-frequency baseline", linestyle="--", color="C1"
    )
    if p_eq_r is not None and np.isfinite(p_eq_r):
        _, _, _, precision, recall = f1_scores(y_true, np.asarray(y_score) >= p_eq_r)
        ax.scatter([recall], [precision], color="black", zorder=3, label=f"P = R at threshold {p_eq_r:.3f}")
    ax.set_xlabel("recall (micro)")
    ax.set_ylabel("precision (micro)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("Tagging precision-recall")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path
