"""Multi-label tagging metrics: F1 at the precision = recall threshold and at tuned thresholds, macro mAP,
per-category and rare-tag slices, beside a tag-frequency baseline. Never plain accuracy: with thousands of
mostly-absent tags, predicting "no tag" everywhere is over 99% accurate.

Macro averages run over the tags that have at least one positive image in the evaluated set (F1 and AP are
undefined for the others); how many tags that is is reported beside them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from acg2vec.errors import UserError


@dataclass(slots=True)
class TagInfo:
    """The model's vocabulary in output order (``selected_tags.csv``)."""

    names: list[str]
    categories: list[str]
    counts: np.ndarray  # training images per tag; the tag-frequency baseline and the rare-tag slices use it


def p_eq_r_threshold(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """The one global threshold at which micro precision equals micro recall (the closest point on the PR curve)."""
    from sklearn.metrics import precision_recall_curve

    truth = np.asarray(y_true).ravel()
    if truth.sum() == 0:
        return float("nan")
    precision, recall, thresholds = precision_recall_curve(truth, np.asarray(y_score).ravel())
    # The last point (precision 1, recall 0) has no threshold.
    gap = np.abs(precision[:-1] - recall[:-1])
    return float(thresholds[int(np.argmin(gap))])


def f1_scores(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float, np.ndarray, float, float]:
    """Micro F1, macro F1 (tags with positives), per-tag F1, micro precision and micro recall."""
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    tp = (y_true & y_pred).sum(axis=0).astype(np.float64)
    fp = (~y_true & y_pred).sum(axis=0).astype(np.float64)
    fn = (y_true & ~y_pred).sum(axis=0).astype(np.float64)
    denom = 2 * tp + fp + fn
    per_tag = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    present = y_true.any(axis=0)
    macro = float(per_tag[present].mean()) if present.any() else float("nan")
    total = 2 * tp.sum() + fp.sum() + fn.sum()
    micro = float(2 * tp.sum() / total) if total else float("nan")
    precision = float(tp.sum() / (tp.sum() + fp.sum())) if tp.sum() + fp.sum() else 0.0
    recall = float(tp.sum() / (tp.sum() + fn.sum())) if tp.sum() + fn.sum() else float("nan")
    return micro, macro, per_tag, precision, recall


def average_precisions(y_true: np.ndarray, y_score: np.ndarray) -> np.ndarray:
    """Per-tag average precision (scikit-learn's step-wise definition); NaN for tags without positives."""
    from sklearn.metrics import average_precision_score

    y_true = np.asarray(y_true, dtype=bool)
    out = np.full(y_true.shape[1], np.nan)
    for t in np.flatnonzero(y_true.any(axis=0)):
        out[t] = average_precision_score(y_true[:, t], y_score[:, t])
    return out


def tune_thresholds(y_true: np.ndarray, y_score: np.ndarray, *, default: float = 0.5) -> np.ndarray:
    """Per-tag thresholds that maximise F1 on this data (optimistic when measured on the same data)."""
    from sklearn.metrics import precision_recall_curve

    y_true = np.asarray(y_true, dtype=bool)
    out = np.full(y_true.shape[1], default, dtype=np.float64)
    for t in np.flatnonzero(y_true.any(axis=0)):
        precision, recall, thresholds = precision_recall_curve(y_true[:, t], y_score[:, t])
        f1 = np.divide(
            2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=precision + recall > 0
        )
        out[t] = thresholds[int(np.argmax(f1[:-1]))]
    return out


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


def frequency_baseline(tag_info: TagInfo, n_images: int) -> np.ndarray:
    """Scores of the tag-frequency baseline: every image gets each tag's training frequency."""
    counts = np.asarray(tag_info.counts, dtype=np.float64)
    prior = counts / max(counts.max(), 1.0)
    return np.broadcast_to(prior, (n_images, len(prior)))


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
    tag_info: TagInfo,
    *,
    thresholds: np.ndarray | None = None,
) -> dict:
    """All tagging figures of a model beside the tag-frequency baseline.

    ``y_true`` (bool) and ``y_score`` are [images, tags] in the order of ``tag_info``. ``thresholds`` are the
    model's tuned per-tag thresholds; without them they are tuned here on the same data (marked optimistic).
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
        thresholds = tune_thresholds(y_true, y_score)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    baseline_score = frequency_baseline(tag_info, len(y_true))
    baseline_thresholds = tune_thresholds(y_true, baseline_score)
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
    y_true: np.ndarray, y_score: np.ndarray, tag_info: TagInfo, path: str, *, p_eq_r: float | None = None
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
    curve(y_true, frequency_baseline(tag_info, len(y_true)), "tag-frequency baseline", linestyle="--", color="C1")
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
