"""Tagger evaluation and image retrieval on a tiny TFDS dataset and a tiny SavedModel whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from acg2vec.deadletter import DeadLetters
from acg2vec.errors import UserError
from acg2vec.evaluation.image_data import load_signature, read_images, resolve_dataset_dir, run_signature
from acg2vec.evaluation.image_retrieval import (
    ImageRetrievalConfig,
    chance,
    colour_histograms,
    evaluate_image_retrieval,
    images_section,
    relevance,
    retrieval_at_k,
)
from acg2vec.evaluation.report import write_report
from acg2vec.evaluation.tagger import evaluate_tagger, tagger_section

from .fakes import colour_image, jpeg_bytes, make_illustrations_dataset, make_image_model


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("acg2vec-data")
    make_illustrations_dataset(root)
    model = make_image_model(root / "models" / "alt_i2v")
    return root, model


@pytest.mark.unit
def test_relevance_by_jaccard():
    rel = relevance([{"a", "b"}, {"a", "b", "c"}, {"d"}], min_jaccard=0.6)
    assert rel.tolist() == [[False, True, False], [True, False, False], [False, False, False]]


@pytest.mark.unit
def test_retrieval_at_k_hand_computed():
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    rel = np.zeros((4, 4), dtype=bool)
    rel[0, [1, 2]] = True  # a: b and c
    rel[1, 0] = True  # b: a
    rel[3, 2] = True  # d: c; c has none
    result = retrieval_at_k(vectors, rel, k=2)
    # a ranks b, d -> hits 1, 0: P@2 0.5, AP@2 1/2; b ranks a, d -> AP 1; d ranks c, b -> AP 1.
    assert result["queries"] == 3 and result["queries_without_relevant"] == 1
    assert result["precision_at_k"] == pytest.approx(0.5)
    assert result["map_at_k"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert result["precision_curve"] == pytest.approx([1.0, 0.5])
    assert chance(rel) == pytest.approx((2 / 3 + 1 / 3 + 1 / 3) / 3)


@pytest.mark.unit
def test_colour_histograms_set_aside_undecodable_images():
    images = [jpeg_bytes(colour_image("red", 1)), b"not an image", jpeg_bytes(colour_image("red", 2))]
    with DeadLetters(None) as dead:
        hist, mask = colour_histograms(images, bins=4, dead_letters=dead)
    assert mask.tolist() == [True, False, True] and dead.counts == {"undecodable-image": 1}
    assert hist.shape == (2, 64) and np.linalg.norm(hist, axis=1) == pytest.approx([1.0, 1.0])
    assert float(hist[0] @ hist[1]) > 0.9  # two noisy reds look alike


@pytest.mark.integration
def test_dataset_and_model_contracts(artefacts):
    root, model = artefacts
    folder = resolve_dataset_dir(str(root / "datasets" / "acg_illustrations"))
    assert folder.endswith("64/1.0.0")
    records = read_images(folder)
    assert len(records.ids) == 12 and records.images[0][:2] == b"\xff\xd8"  # JPEG bytes, not decoded
    assert {"red", "solo", "sample_series"} <= records.labels[0]
    signature = load_signature(str(model), "serving_default")
    with DeadLetters(None) as dead:
        probs, mask = run_signature(
            signature,
            "probabilities",
            [records.images[0], b"broken", records.images[1]],
            batch_size=3,
            dead_letters=dead,
            ids=[1, 99, 2],
        )
    assert mask.tolist() == [True, False, True] and dead.counts == {"undecodable-image": 1}
    assert probs.shape == (2, 5) and probs[0, 0] > 0.7  # a red image scores red


@pytest.mark.integration
def test_evaluate_tagger_known_answers(artefacts, tmp_path):
    root, model = artefacts
    metrics = evaluate_tagger(str(model), str(root / "datasets"), str(tmp_path))
    model_m, base = metrics["overall"]["model"], metrics["overall"]["baseline"]
    # The colour tagger separates every colour and always gives the series tag: perfect on the 4 tags with positives.
    assert metrics["images"] == 12 and model_m["tags_with_positives"] == 4
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
def test_evaluate_image_retrieval_known_answers(artefacts, tmp_path):
    root, model = artefacts
    # Same colour: Jaccard 3/4 or 1; different colours at most 3/5 (solo, smile and the series in common).
    config = ImageRetrievalConfig(k=3, min_jaccard=0.7)
    metrics = evaluate_image_retrieval(str(model), str(root / "datasets"), str(tmp_path), config=config)
    assert metrics["images_used"] == 12 and metrics["relevant_pairs_share"] == pytest.approx(3 / 11)
    for method in ("alt_i2v", "colour histogram"):
        assert metrics["methods"][method]["precision_at_k"] == pytest.approx(1.0)
        assert metrics["methods"][method]["map_at_k"] == pytest.approx(1.0)
    assert (tmp_path / "images_precision_alt_i2v.png").stat().st_size > 1000
    # The searched vectors are kept as a FAISS index: each image's nearest neighbour in it is itself.
    import faiss

    index = faiss.read_index(metrics["index"]["path"])
    ids = np.load(metrics["index"]["ids"])
    assert index.ntotal == len(ids) == 12 and metrics["index"]["factory"] == "Flat"
    stored = index.reconstruct_n(0, index.ntotal)
    _, nearest = index.search(stored, 1)
    assert list(nearest[:, 0]) == list(range(12))

    # An embedding that ignores the image puts the same colour nowhere in particular.
    rng = np.random.default_rng(0)
    scrambled = evaluate_image_retrieval(
        None, str(root / "datasets"), config=config, embed=lambda images: rng.standard_normal((len(images), 8))
    )
    assert scrambled["methods"]["model"]["precision_at_k"] < 1.0
    section = images_section(metrics)
    assert section.tables[0].rows[-1][0].startswith("chance")


@pytest.mark.unit
def test_user_errors_for_missing_inputs(tmp_path):
    with pytest.raises(UserError, match="acg2vec build images"):
        resolve_dataset_dir(str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="SavedModel"):
        load_signature(str(tmp_path), "embed")


@pytest.mark.integration
def test_unknown_split_and_signature_are_user_errors(artefacts):
    root, model = artefacts
    with pytest.raises(UserError, match="no 'train' split"):
        read_images(str(root / "datasets"), split="train")
    with pytest.raises(UserError, match="no 'serving' signature"):
        load_signature(str(model), "serving")


@pytest.mark.unit
def test_numeric_tag_categories_get_their_names(tmp_path):
    from acg2vec.evaluation.image_data import read_tag_info

    (tmp_path / "selected_tags.csv").write_text(
        "tag_id,name,category,count\n0,1girl,0,900\n1,hatsune_miku,4,50\n2,vocaloid,3,60\n", encoding="utf-8"
    )
    info = read_tag_info(str(tmp_path))
    assert info.names == ["1girl", "hatsune_miku", "vocaloid"]
    assert info.categories == ["general", "character", "copyright"] and info.counts.tolist() == [900, 50, 60]
