"""``acg2vec curate``: one curation run of one dataset version, written to ``curation/<run>/``.

1. check the dataset version (complete, with a training split) and name it in the run's manifest;
2. the label-issue pass (:func:`acg2vec.curation.run.find_label_issues`) -> ``label_issues.parquet``;
3. near-duplicates over every split (:func:`acg2vec.curation.duplicates.find_duplicates`, with the embeddings of
   step 2) -> ``duplicates.parquet``;
4. where the true tags are known (``truth``), score the flags against them;
5. the manifest (dataset version, parameters, counts, files) and the report (sections beside any others of the run).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from acg2vec.curation.duplicates import DuplicateConfig, DuplicateResult, find_duplicates
from acg2vec.curation.label_issues import IssueConfig
from acg2vec.curation.pred_probs import HeadConfig
from acg2vec.curation.report import TITLE, duplicates_section, label_issue_section, truth_section
from acg2vec.curation.run import LabelIssueResult, find_label_issues
from acg2vec.curation.truth import flag_quality, truth_matrix
from acg2vec.datasets.acg_illustrations.curation_files import (
    DUPLICATES_FILE,
    LABEL_ISSUES_FILE,
    CurationManifest,
    DatasetRef,
    label_issue_counts,
    write_duplicates,
    write_label_issues,
    write_manifest,
)
from acg2vec.deadletter import DeadLetters, dead_letter_path
from acg2vec.evaluation.image_data import resolve_dataset_dir
from acg2vec.evaluation.report import write_report
from acg2vec.logs import progress_task

log = logging.getLogger(__name__)

STEP = "curate"  # dead letters: curation/<run>/dead_letters/curate.jsonl.gz


@dataclass(slots=True)
class CurationOutcome:
    run_dir: str
    manifest: CurationManifest
    labels: LabelIssueResult
    duplicates: DuplicateResult | None
    quality: dict  # split -> kind -> figures against the truth (empty without truth)
    report: dict[str, str]


def _duplicates(labels: LabelIssueResult, config: DuplicateConfig, dead: DeadLetters) -> DuplicateResult:
    splits = list(labels.splits.values())
    ids = np.concatenate([s.ids for s in splits])
    names = np.concatenate([[s.split] * len(s.ids) for s in splits])
    images = [b for s in splits for b in s.images]
    vectors = np.concatenate([s.embeddings for s in splits])
    with progress_task("Hashing images", total=len(images)) as advance:
        return find_duplicates(ids, names, images, embeddings=vectors, config=config, dead=dead, advance=advance)


def curate(
    data_dir: str,
    run_dir: str,
    model_dir: str,
    *,
    head: HeadConfig | None = None,
    issues: IssueConfig | None = None,
    duplicates: DuplicateConfig | None = DuplicateConfig(),
    truth: Mapping[int, set[str]] | None = None,
    batch_size: int = 64,
) -> CurationOutcome:
    """Curate the dataset version under ``data_dir`` (the newest under it) into ``run_dir``.

    ``duplicates=None`` skips the near-duplicate search."""
    head, issues = head or HeadConfig(), issues or IssueConfig()
    # 1. the dataset version
    dataset_dir = resolve_dataset_dir(data_dir)
    ref = DatasetRef.from_dir(dataset_dir)
    log.info("curating %s into %s", ref.describe(), run_dir)
    with DeadLetters(dead_letter_path(run_dir, STEP), step=STEP, fresh=True) as dead:
        # 2. label issues
        labels = find_label_issues(dataset_dir, model_dir, head=head, issues=issues, batch_size=batch_size, dead=dead)
        written = [LABEL_ISSUES_FILE]
        write_label_issues(run_dir, labels.rows)
        # 3. near-duplicates
        found = _duplicates(labels, duplicates, dead) if duplicates is not None else None
        if found is not None:
            write_duplicates(run_dir, found.members)
            written.append(DUPLICATES_FILE)
    # 4. against the truth
    quality = {}
    if truth is not None:
        for split, scores in labels.splits.items():
            true = truth_matrix(scores.ids, truth, labels.tags.names)
            quality[split] = flag_quality(scores.labels, scores.probs, scores.issues, true)
    # 5. manifest and report
    parameters = {"model": model_dir, **dataclasses.asdict(head), **dataclasses.asdict(issues)}
    if duplicates is not None:
        parameters["duplicates"] = duplicates.parameters()
    counts = {
        "label_issues": label_issue_counts(_frame(labels.rows)),
        "label_issues_by_split": labels.counts,
        "images_dropped": dict(dead.counts),
        "cpu_seconds": {**labels.seconds, **(found.seconds if found is not None else {})},
    }
    if found is not None:
        counts["duplicates"] = found.counts
    manifest = CurationManifest(
        run=run_dir.rstrip("/").split("/")[-1], dataset=ref, parameters=parameters, counts=counts, files=written
    )
    write_manifest(run_dir, manifest)
    sections = [label_issue_section(labels, run_dir, parameters=parameters)]
    if found is not None:
        sections.append(duplicates_section(found, labels, run_dir))
    if quality:
        sections.append(truth_section(quality, run_dir))
    paths = write_report(run_dir, sections, title=TITLE)
    return CurationOutcome(run_dir, manifest, labels, found, quality, paths)


def _frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows, columns=["post_id", "tag", "kind", "confidence", "split", "category"])
