"""Out-of-sample tag probabilities for every training post: K-fold cross-fitting of a small head on frozen embeddings.

Confident learning needs, for each post, probabilities from a model that never saw that post's labels. Training
K taggers (one per fold) would cost K times one tagger; instead the posts are embedded once by a model the user
already has (the tagger trained on the noisy version, an illust2vec export, a release), and for each fold a
multi-label MLP head (scikit-learn) is fitted on the embeddings and labels of the other folds and predicts the
held-out fold. Posts of other splits (validation, test) are predicted by a head fitted on all training posts.

The trunk that made the embeddings did see every training label, so the heads are out-of-sample and the trunk is
not; ``benchmarks/curation.py`` measures what that costs against the tagger's own (in-sample) probabilities.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from acg2vec.errors import UserError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class HeadConfig:
    """The per-fold head: one hidden layer over standardised embeddings, sigmoid outputs, Adam."""

    folds: int = 5
    hidden: int = 256
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 1e-3
    l2: float = 1e-4
    seed: int = 0


def fold_ids(post_ids: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Each post's fold in 0..folds-1: a seeded permutation of the posts in id order, so a re-run (and a
    re-read in another order) puts every post in the same fold."""
    post_ids = np.asarray(post_ids)
    if folds < 2:
        raise UserError(f"cross-fitting needs at least 2 folds (got {folds}).")
    if len(post_ids) < folds:
        raise UserError(f"{len(post_ids)} training posts cannot be split into {folds} folds.")
    order = np.argsort(post_ids, kind="stable")
    slots = np.random.default_rng(seed).permutation(len(post_ids)) % folds
    out = np.empty(len(post_ids), dtype=np.int64)
    out[order] = slots
    return out


def _fit_head(x: np.ndarray, y: np.ndarray, config: HeadConfig):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    head = make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=(config.hidden,) if config.hidden else (),
            alpha=config.l2,
            batch_size=min(config.batch_size, len(x)),
            learning_rate_init=config.learning_rate,
            max_iter=config.epochs,
            random_state=config.seed,
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed number of epochs is the budget, on purpose
        head.fit(x, y.astype(np.int8))
    return head


def _predict(head, x: np.ndarray, n_tags: int, trained: np.ndarray) -> np.ndarray:
    """[n, n_tags] probabilities; tags with no positive in the head's training folds get 0."""
    out = np.zeros((len(x), n_tags), dtype=np.float32)
    probs = head.predict_proba(x)
    if probs.shape[1] != int(trained.sum()):  # one tag: scikit-learn answers [P(absent), P(present)]
        probs = probs[:, -1:]
    out[:, trained] = probs
    return out


def cross_fitted_probabilities(
    embeddings: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    config: HeadConfig | None = None,
    *,
    others: np.ndarray | None = None,
    advance: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(out-of-fold probabilities [posts, tags] of the training posts, probabilities of ``others`` or None).

    ``labels`` are the training posts' tags (bool [posts, tags]), ``folds`` each post's fold
    (:func:`fold_ids`). ``others`` (embeddings of posts of other splits) are predicted by a head fitted on all
    training posts. A tag with no positive among a fold's training posts gets probability 0 in that fold.
    """
    config = config or HeadConfig()
    x = np.asarray(embeddings, dtype=np.float32)
    y = np.asarray(labels, dtype=bool)
    if len(x) != len(y) or len(x) != len(folds):
        raise ValueError(f"{len(x)} embeddings, {len(y)} label rows and {len(folds)} folds must match")
    oof = np.zeros(y.shape, dtype=np.float32)
    k = int(folds.max()) + 1
    for fold in range(k):
        held = folds == fold
        if not held.any():
            raise UserError(f"fold {fold} of {k} has no posts; use fewer folds.")
        train_y = y[~held]
        trained = train_y.any(axis=0)
        head = _fit_head(x[~held], train_y[:, trained], config)
        oof[held] = _predict(head, x[held], y.shape[1], trained)
        log.debug("fold %d/%d: %d held-out posts", fold + 1, k, int(held.sum()))
        if advance is not None:
            advance(1)
    rest = None
    if others is not None and len(others):
        trained = y.any(axis=0)
        head = _fit_head(x, y[:, trained], config)
        rest = _predict(head, np.asarray(others, dtype=np.float32), y.shape[1], trained)
    if advance is not None:
        advance(1)
    return oof, rest
