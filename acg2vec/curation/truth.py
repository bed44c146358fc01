"""How good the flags are where the true tags are known (the sample site, the learnability world).

A flagged *missing* (post, tag) is right when the true tags hold the tag; a flagged *wrong* one when they do not.
Recall counts every true error among the scored tags: (post, tag) cells where the labels and the truth differ.
Two curves per kind, both over confidence: the flagged set (cleanlab's decision, cut further by a
``--min-confidence``) and every candidate cell (what a confidence threshold alone would give).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from acg2vec.curation.label_issues import confidence_scores
from acg2vec.datasets.acg_illustrations.curation_files import MISSING, WRONG

RECALL_TARGET = 0.5


def truth_matrix(ids: np.ndarray, truth: Mapping[int, set[str]], names: list[str]) -> np.ndarray:
    """bool [posts, tags]: the true tags of each post; a post the truth does not know is an error."""
    column = {name: i for i, name in enumerate(names)}
    y = np.zeros((len(ids), len(names)), dtype=bool)
    for row, post_id in enumerate(ids):
        if int(post_id) not in truth:
            raise KeyError(f"the truth has no post {int(post_id)}")
        for tag in truth[int(post_id)]:
            if tag in column:
                y[row, column[tag]] = True
    return y


def _curve(confidence: np.ndarray, correct: np.ndarray, total: int) -> dict:
    """Precision and recall of the top-k by confidence, for every k (recall over ``total`` true errors)."""
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(correct[order])
    k = np.arange(1, len(order) + 1)
    precision = hits / np.maximum(k, 1)
    recall = hits / max(total, 1)
    return {"confidence": confidence[order], "precision": precision, "recall": recall}


def precision_at_recall(curve: dict, recall: float = RECALL_TARGET) -> float:
    """The best precision at recall >= ``recall`` (NaN when the curve never gets there)."""
    reach = curve["recall"] >= recall
    return float(curve["precision"][reach].max()) if reach.any() else float("nan")


def flag_quality(labels: np.ndarray, probs: np.ndarray, issues, truth: np.ndarray) -> dict:
    """Per kind: flagged, right, precision, recall, precision at recall 0.5, and the two curves (arrays)."""
    y = np.asarray(labels, dtype=bool)
    true = np.asarray(truth, dtype=bool)
    scored = issues.scored_tags[None, :]
    confidence = confidence_scores(y, probs, issues.cooccurrence)
    out = {}
    for kind, candidate, error in ((MISSING, ~y, ~y & true), (WRONG, y, y & ~true)):
        total = int((error & scored).sum())
        pick = issues.kinds == kind
        rows, cols = issues.rows[pick], issues.cols[pick]
        right = error[rows, cols]
        flagged = _curve(issues.confidence[pick], right, total)
        cells = candidate & scored
        every = _curve(confidence[cells], error[cells], total)
        out[kind] = {
            "true_errors": total,
            "flagged": int(pick.sum()),
            "right": int(right.sum()),
            "precision": float(right.mean()) if len(right) else float("nan"),
            "recall": float(right.sum() / total) if total else float("nan"),
            "precision_at_recall_0.5_flagged": precision_at_recall(flagged),
            "precision_at_recall_0.5_any_threshold": precision_at_recall(every),
            "curves": {"flagged": flagged, "any_threshold": every},
        }
    return out


def without_curves(quality: dict) -> dict:
    """``flag_quality`` without its arrays, for JSON."""
    return {kind: {k: v for k, v in q.items() if k != "curves"} for kind, q in quality.items()}
