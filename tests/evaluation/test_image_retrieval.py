"""Image retrieval on a tiny dataset and model whose answers are known: relevance, retrieval@k, colour baseline."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from acg2vec.deadletter import DeadLetters
from acg2vec.evaluation import image_retrieval
from acg2vec.evaluation.image_retrieval import (
    ImageRetrievalConfig,
    chance,
    colour_histograms,
    evaluate_image_retrieval,
    images_section,
    relevance,
    retrieval_at_k,
)
from acg2vec.indexes.files import IDS_FILE, load_index
from tests.evaluation.fakes import colour_image, jpeg_bytes


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
def test_evaluate_image_retrieval_known_answers(artefacts, tmp_path):
    root, model = artefacts
    # Same colour: Jaccard 3/4 or 1; different colours at most 3/5 (solo, smile and the series in common).
    config = ImageRetrievalConfig(k=3, min_jaccard=0.7)
    metrics = evaluate_image_retrieval(str(model), str(root / "datasets"), str(tmp_path), config=config)
    assert metrics["images_used"] == 12 and metrics["relevant_pairs_share"] == pytest.approx(3 / 11)
    assert metrics["images_read"] == 12 and metrics["images_dropped"] == {}
    assert not (tmp_path / "dead_letters").exists()  # nothing dropped, no dead-letter file
    for method in ("alt_i2v", "colour histogram"):
        assert metrics["methods"][method]["precision_at_k"] == pytest.approx(1.0)
        assert metrics["methods"][method]["map_at_k"] == pytest.approx(1.0)
    assert (tmp_path / "images_precision_alt_i2v.png").stat().st_size > 1000
    # The searched vectors are kept as the chosen index in the one layout (exact search at 12 images): each
    # image's nearest neighbour in it is itself.
    index, chosen = load_index(metrics["index"]["path"])
    ids = np.load(Path(metrics["index"]["path"]) / IDS_FILE)
    assert index.ntotal == len(ids) == 12 and metrics["index"]["factory"] == chosen.factory == "Flat"
    assert chosen.metric == "ip" and "exact search is fast enough" in chosen.reason
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


@pytest.mark.integration
def test_an_image_only_the_model_reads_is_set_aside_counted_and_dead_lettered(artefacts, tmp_path, monkeypatch):
    root, _ = artefacts
    real_read_images = image_retrieval.read_images

    def with_a_broken_image(*args, **kwargs):
        records = real_read_images(*args, **kwargs)
        records.ids.append(999)
        records.images.append(b"not an image")
        records.labels.append(set(records.labels[0]))
        return records

    monkeypatch.setattr(image_retrieval, "read_images", with_a_broken_image)
    letters_path = tmp_path / "dead_letters" / "eval-images.jsonl.gz"
    letters_path.parent.mkdir()
    letters_path.write_bytes(gzip.compress(b'{"left": "by an earlier run of this eval"}\n'))
    metrics = evaluate_image_retrieval(
        None,
        str(root / "datasets"),
        str(tmp_path),
        config=ImageRetrievalConfig(k=3, min_jaccard=0.7),
        embed=lambda images: np.ones((len(images), 4), np.float32),  # reads every image, the broken one too
    )
    # Every method is scored on the same images: read 13 = used 12 + dropped 1.
    assert metrics["images_read"] == 13 and metrics["images_used"] == 12
    assert metrics["images_dropped"] == {"histogram-undecodable-image": 1}
    with gzip.open(letters_path, "rt", encoding="utf-8") as fh:
        (letter,) = [json.loads(line) for line in fh]  # this run's letters only
    assert (letter["reason"], letter["step"], letter["record"]) == (
        "histogram-undecodable-image",
        "eval-images",
        {"id": 999},
    )
