"""A curated test split end to end: curate a tiny noisy version, apply the run as a new version, score a tagger on it."""

from __future__ import annotations

import pytest

from acg2vec.curation.label_issues import IssueConfig
from acg2vec.curation.pred_probs import HeadConfig
from acg2vec.curation.stage import curate
from acg2vec.evaluation.tagger import evaluate_tagger
from acg2vec.workspace import Workspace
from tests.curation.conftest import write_noisy_dataset
from tests.evaluation.fakes import make_image_model


@pytest.mark.integration
@pytest.mark.slow
def test_eval_tagger_scores_a_curated_test_split_and_says_so(tmp_path):
    from acg2vec.datasets.acg_illustrations.build import CurationChoice, apply_curation

    ws = Workspace.at(str(tmp_path)).ensure()
    source, _ = write_noisy_dataset(tmp_path)
    model = make_image_model(tmp_path / "models" / "colour")
    run_dir = str(tmp_path / "curation" / "r1")
    curate(str(source), run_dir, str(model), head=HeadConfig(folds=3, hidden=16, epochs=60, batch_size=32,
           learning_rate=1e-2), issues=IssueConfig(min_positives=2), duplicates=None)  # fmt: skip
    apply_curation(ws, CurationChoice(run_dir, min_confidence=0.5), config="32")
    data_dir = str(tmp_path / "datasets" / "acg_illustrations")
    curated = evaluate_tagger(str(model), data_dir)  # the newest version: the curated one
    noisy = evaluate_tagger(str(model), str(source))
    assert curated["labels"]["curated"] and curated["labels"]["run"] == "r1"
    assert not noisy["labels"]["curated"] and noisy["labels"]["version"] == "1.0.0"
    # The colour model sees the red of the test posts that lost their red tag: the fixed labels agree with it more.
    assert curated["overall"]["model"]["macro_map"] > noisy["overall"]["model"]["macro_map"]
    assert curated["overall"]["model"]["micro_f1_at_p_eq_r"] > noisy["overall"]["model"]["micro_f1_at_p_eq_r"]
