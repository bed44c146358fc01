"""The label-issue pass of ``acg2vec curate``: one dataset version in, ``label_issues.parquet`` rows out.

A numbered recipe:

1. read the version's vocabulary (``selected_tags.csv``) and its splits' images and labels;
2. embed every image once with a model the user has (frozen; images it cannot read are dead-lettered);
3. cross-fit: per fold, a head on the other folds' embeddings predicts the held-out posts
   (:mod:`acg2vec.curation.pred_probs`); validation and test posts are predicted by a head on all training posts;
4. per split, cleanlab flags the (post, tag) labels that disagree, wrong tags ranked with the training labels'
   tag co-occurrence (:mod:`acg2vec.curation.label_issues`);
5. the flags become rows of the run's label issues (post id, tag, kind, confidence, plus split and category).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from acg2vec.curation.label_issues import IssueConfig, TagIssues, cooccurrence_pmi, find_tag_issues
from acg2vec.curation.pred_probs import HeadConfig, cross_fitted_probabilities, fold_ids
from acg2vec.datasets.acg_illustrations.selected_tags import TagVocabulary
from acg2vec.datasets.published import read_vocabulary
from acg2vec.deadletter import DeadLetters
from acg2vec.errors import UserError
from acg2vec.evaluation.image_data import dead_letter_bad_images, read_images
from acg2vec.logs import progress_task

log = logging.getLogger(__name__)

TRAIN = "train"
SPLITS = ("train", "validation", "test")


@dataclass(slots=True)
class SplitScores:
    """What the pass computed for one split (kept for the report and the benchmark)."""

    split: str
    ids: np.ndarray
    images: list[bytes]
    labels: np.ndarray  # bool [posts, tags]
    probs: np.ndarray  # out-of-sample probabilities [posts, tags]
    issues: TagIssues
    embeddings: np.ndarray  # the frozen model's vectors [posts, dim] (near-duplicate search reuses them)


@dataclass(slots=True)
class LabelIssueResult:
    tags: TagVocabulary
    splits: dict[str, SplitScores]
    rows: list[dict]
    counts: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # CPU seconds of each step


def label_matrix(labels: list[set[str]], names: list[str]) -> np.ndarray:
    """bool [posts, tags] in the order of ``names``; labels outside the vocabulary are ignored."""
    column = {name: i for i, name in enumerate(names)}
    y = np.zeros((len(labels), len(names)), dtype=bool)
    for row, tags in enumerate(labels):
        for tag in tags:
            if tag in column:
                y[row, column[tag]] = True
    return y


def _split_names(dataset_dir: str) -> list[str]:
    from acg2vec.datasets.published import open_published

    present = open_published(dataset_dir).info.splits  # a damaged version is one sentence with its repair
    return [s for s in SPLITS if s in present]


def _embed(model, split: str, records, dead: DeadLetters | None, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    with progress_task(f"Embedding {split}", total=len(records.images)) as advance:
        return model.embed_robust(
            records.images,
            dead_letter_bad_images(dead, records.images, records.ids),
            batch_size=batch_size,
            advance=advance,
        )


def find_label_issues(
    dataset_dir: str,
    model_dir: str,
    *,
    head: HeadConfig | None = None,
    issues: IssueConfig | None = None,
    splits: tuple[str, ...] = SPLITS,
    batch_size: int = 64,
    dead: DeadLetters | None = None,
) -> LabelIssueResult:
    """Label issues of the dataset version in ``dataset_dir`` (a ``.../<config>/<version>`` folder), found with
    the embeddings of the image model in ``model_dir``."""
    from acg2vec.trainers.image.image_model import load_image_model

    head, issues = head or HeadConfig(), issues or IssueConfig()
    seconds: dict[str, float] = {}
    t = time.process_time()
    # 1. vocabulary and splits
    tags = read_vocabulary(dataset_dir)  # damaged: the sentence with the version's rebuild command
    names = [s for s in _split_names(dataset_dir) if s in splits]
    if TRAIN not in names:
        raise UserError(f"the dataset at {dataset_dir} has no '{TRAIN}' split to curate.")
    records = {s: read_images(dataset_dir, split=s) for s in names}
    if not records[TRAIN].ids:
        raise UserError(f"the '{TRAIN}' split of {dataset_dir} is empty; there is nothing to curate.")
    seconds["read"] = time.process_time() - t
    # 2. embeddings (frozen)
    t = time.process_time()
    model = load_image_model(model_dir)
    if not model.has_embedding:
        raise UserError(f"{model_dir} gives no image embeddings; curate with a tagger or illust2vec export.")
    embedded = {}
    for s in names:
        vectors, ok = _embed(model, s, records[s], dead, batch_size)
        kept = [i for i, good in enumerate(ok) if good]
        embedded[s] = (vectors, np.asarray(records[s].ids)[ok], [records[s].images[i] for i in kept],
                       label_matrix([records[s].labels[i] for i in kept], tags.names))  # fmt: skip
    if not len(embedded[TRAIN][0]):
        raise UserError(f"the model {model_dir} could not read any training image of {dataset_dir}.")
    seconds["embed"] = time.process_time() - t
    # 3. cross-fitting
    t = time.process_time()
    x, ids, _, y = embedded[TRAIN]
    folds = fold_ids(ids, head.folds, head.seed)
    others = [s for s in names if s != TRAIN and len(embedded[s][0])]
    stacked = np.concatenate([embedded[s][0] for s in others]) if others else None
    with progress_task(f"Cross-fitting {head.folds} folds", total=head.folds + 1) as advance:
        oof, rest = cross_fitted_probabilities(x, y, folds, head, others=stacked, advance=advance)
    probs = {TRAIN: oof}
    start = 0
    for s in others:
        n = len(embedded[s][0])
        probs[s] = rest[start : start + n]
        start += n
    seconds["cross_fit"] = time.process_time() - t
    # 4. cleanlab per split; 5. rows
    t = time.process_time()
    scores, rows = {}, []
    pmi = cooccurrence_pmi(embedded[TRAIN][3])  # the training labels' tag co-occurrence, for every split
    for s in probs:
        vectors, split_ids, images, labels = embedded[s]
        found = find_tag_issues(labels, probs[s], issues, categories=tags.categories, cooccurrence=pmi)
        scores[s] = SplitScores(s, split_ids, images, labels, probs[s], found, vectors)
        rows += [
            {
                "post_id": int(split_ids[r]),
                "tag": tags.names[c],
                "kind": str(k),
                "confidence": float(conf),
                "split": s,
                "category": tags.categories[c],
            }  # fmt: skip
            for r, c, k, conf in zip(found.rows, found.cols, found.kinds, found.confidence, strict=True)
        ]
    seconds["cleanlab"] = time.process_time() - t
    counts = {s: {**sc.issues.counts, "posts": len(sc.ids)} for s, sc in scores.items()}
    return LabelIssueResult(tags, scores, rows, counts, seconds)
