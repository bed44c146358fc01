"""The label-issue pass end to end on a tiny noisy dataset whose true tags are known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acg2vec.curation.label_issues import IssueConfig
from acg2vec.curation.pred_probs import HeadConfig
from acg2vec.curation.stage import curate
from acg2vec.datasets.acg_illustrations.curation_files import check_run_for, read_label_issues
from tests.curation.conftest import MISSING_RED, WRONG_BLUE

HEAD = HeadConfig(folds=3, hidden=16, epochs=60, batch_size=32, learning_rate=1e-2)


@pytest.fixture(scope="module")
def outcome(noisy_world, tmp_path_factory):
    root, _, truth, model = noisy_world
    run_dir = str(tmp_path_factory.mktemp("runs") / "first")
    return curate(str(root / "datasets" / "acg_illustrations"), run_dir, str(model), head=HEAD,
                  issues=IssueConfig(min_positives=2), truth=truth)  # fmt: skip


def test_planted_missing_and_wrong_tags_are_flagged(outcome):
    issues = read_label_issues(outcome.run_dir)
    train = issues[issues["split"] == "train"]
    missing = set(train[(train["kind"] == "missing") & (train["tag"] == "red")]["post_id"])
    wrong = set(train[(train["kind"] == "wrong") & (train["tag"] == "blue")]["post_id"])
    assert missing >= MISSING_RED
    assert wrong >= WRONG_BLUE
    # Nearly nothing else: the colour embedding separates the tags cleanly.
    assert len(train) <= len(MISSING_RED) + len(WRONG_BLUE) + 3
    assert train["confidence"].between(0, 1).all()


def test_run_names_its_dataset_and_the_report_scores_the_truth(outcome, noisy_world):
    _, folder, _, _ = noisy_world
    manifest = check_run_for(outcome.run_dir, str(folder))
    assert manifest.counts["label_issues"]["missing"] >= len(MISSING_RED)
    quality = outcome.quality["train"]
    assert quality["missing"]["true_errors"] == len(MISSING_RED)
    assert quality["missing"]["recall"] == 1.0
    assert quality["wrong"]["recall"] == 1.0
    metrics = json.loads(Path(outcome.report["metrics"]).read_text())
    assert metrics["labels:truth"]["train"]["missing"]["right"] == len(MISSING_RED)
    text = Path(outcome.report["markdown"]).read_text()
    assert "issues_missing.png" in text and "flag_precision_train.png" in text
