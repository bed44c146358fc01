"""Tagger evaluation on a tiny dataset and model whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from acg2vec.evaluation.report import write_report
from acg2vec.evaluation.tagger import evaluate_tagger, tagger_section


@pytest.mark.integration
def test_evaluate_tagger_known_answers(artefacts, tmp_path):
    root, model = artefacts
    metrics = evaluate_tagger(str(model), str(root / "datasets"), str(tmp_path))
    model_m, base = metrics["overall"]["model"], metrics["overall"]["baseline"]
    # The colour tagger separates every colour and always gives the series tag: perfect on the 4 tags with positives.
    assert metrics["images"] == 12 and model_m["tags_with_positives"] == 4
    assert metrics["images_read"] == 12 and metrics["images_dropped"] == {}
    assert not (tmp_path / "dead_letters").exists()  # nothing dropped, no dead-letter file
    assert model_m["micro_f1_at_p_eq_r"] == pytest.approx(1.0)
    assert model_m["macro_f1_tuned"] == pytest.approx(1.0) and model_m["macro_map"] == pytest.approx(1.0)
    # Frequency baseline: constant per tag, so AP = positive rate: 1/3 per colour, 1 for the series tag.
    assert base["macro_map"] == pytest.approx((3 * (1 / 3) + 1.0) / 4)
    assert set(metrics["per_category"]) == {"general", "copyright"}
    assert metrics["per_category"]["general"]["model"]["tags"] == 4
    assert not metrics["thresholds_tuned_on_eval_data"]
    assert (tmp_path / "tagger_pr_alt_i2v.png").stat().st_size > 1000

    paths = write_report(tmp_path, [tagger_section(metrics)])
    md = Path(paths["markdown"]).read_text()
    assert "Tagging: alt_i2v" in md and "tag frequency" in md and "tagger_pr_alt_i2v.png" in md
    assert "data:image/png;base64," in Path(paths["html"]).read_text()
    assert json.loads(Path(paths["metrics"]).read_text())["tagger:alt_i2v"]["overall"]["model"]["macro_map"] == 1.0


@pytest.mark.integration
def test_a_wd_style_release_is_evaluated_like_the_project_models(artefacts, tmp_path):
    """A WD-style ONNX tagger folder (BGR 0-255 input) that tags the colours from the mean pixel: perfect scores."""
    from tests.trainers.image.release_fakes import wd_onnx

    root, _ = artefacts
    release = tmp_path / "wd-tagger"
    release.mkdir()
    # Rows: the B, G, R means; each colour tag fires on its own channel minus the mean of the others.
    weights = np.array(
        [[-0.05, -0.05, 0.1, 0.0], [-0.05, 0.1, -0.05, 0.0], [0.1, -0.05, -0.05, 0.0]], dtype=np.float32
    )
    wd_onnx(release / "model.onnx", 16, weights, np.array([-3, -3, -3, 0], np.float32))
    rows = ["tag_id,name,category,count", "1,red,0,30", "2,green,0,20", "3,blue,0,10", "4,general,9,60"]
    (release / "selected_tags.csv").write_text("\n".join(rows) + "\n")
    metrics = evaluate_tagger(str(release), str(root / "datasets"), str(tmp_path / "eval"))
    assert metrics["model_kind"] == "wd-tagger" and metrics["images"] == 12
    assert metrics["per_category"]["general"]["model"]["macro_map"] == pytest.approx(1.0)
    assert metrics["per_category"]["general"]["model"]["micro_f1_at_p_eq_r"] == pytest.approx(1.0)
    assert not metrics["thresholds_tuned_on_eval_data"]


def test_micro_precision_at_recall_levels_of_model_and_baseline():
    from acg2vec.evaluation.tagger import micro_precision_at_recall

    truth = np.array([[1, 0], [0, 1], [1, 0], [0, 0]], dtype=bool)
    perfect = truth.astype(np.float32)
    constant = np.tile([[0.5, 0.25]], (4, 1))
    pr = micro_precision_at_recall(truth, perfect, constant)
    assert pr["recall"][0] == 0.1 and pr["model"] == [1.0] * 9
    # The constant scores rank tag 0 (2 positives in 4 images) before tag 1 (1 in 4): precision 2/4 up to recall 2/3.
    assert pr["baseline"][:6] == [0.5] * 6 and pr["baseline"][-1] == pytest.approx(3 / 8)


@pytest.mark.parametrize("damage", ["cut_short", "zero_bytes", "wrong_kind"])
def test_a_damaged_version_metadata_is_named_before_scoring_whose_labels(artefacts, tmp_path, damage):
    """Curated scoring says whose labels a version holds from its metadata.json: damaged, that is the sentence."""
    import shutil

    from acg2vec.evaluation.tagger import dataset_labels
    from acg2vec.integrity import DamagedFileError
    from tests.damage import DAMAGES

    root, _ = artefacts
    shutil.copytree(root / "datasets", tmp_path / "datasets")
    version = tmp_path / "datasets" / "acg_illustrations" / "64" / "1.0.0"
    curation = {"run": "main", "run_dir": "/w/curation/main", "made_for": {"version": "1.0.0"}, "min_confidence": 0.8}
    (version / "metadata.json").write_text(json.dumps({"curation": curation, "build_config": {}}))
    assert dataset_labels(str(tmp_path / "datasets"))["curated"] is True
    DAMAGES[damage](version / "metadata.json")
    with pytest.raises(DamagedFileError) as caught:
        dataset_labels(str(tmp_path / "datasets"))
    assert str(caught.value).startswith(f"{version / 'metadata.json'} is damaged (")
    assert "whose labels the version holds (built or curated) is unknown" in str(caught.value)
