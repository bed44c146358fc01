"""The index chosen by measurement end to end on small collections, and a named factory with known answers."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.indexes.candidates import GIB, Candidate, ChooserConfig, candidate_for
from acg2vec.indexes.index_choice import MeasureConfig, build_chosen_index
from acg2vec.indexes.synthetic import clustered_vectors


def _unit(n, dim, seed):
    data = clustered_vectors(n, dim, seed=seed)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


@pytest.mark.unit
def test_the_chooser_does_not_choose_a_candidate_that_cannot_meet_the_target():
    data = _unit(4_000, 32, 6)
    # Bare 4-bit codes of 8-d sub-vectors cannot rank neighbours finely enough for recall@10 0.95; re-ranked
    # 2-d codes can. The bare codes are the faster candidate at every setting.
    config = MeasureConfig(
        queries=200,
        seconds_per_candidate=5.0,
        min_seconds=0.02,
        candidates=[Candidate("IVF32,PQ4x4fs", [""], 32), Candidate("IVF32,PQ16x4fs", ["Refine(Flat)"], 32)],
    )
    index, chosen = build_chosen_index(data, recall_target=0.95, progress=False, config=config)
    bare = [p for p in chosen.curve if p["factory"] == "IVF32,PQ4x4fs"]
    assert bare and max(p["recall"] for p in bare) < 0.95
    assert chosen.factory == "IVF32,PQ16x4fs,Refine(Flat)" and chosen.measured_recall >= 0.95
    assert "meeting recall@10 >= 0.95" in chosen.reason
    assert chosen.build_seconds > 0 and chosen.bytes > 0 and index.ntotal == 4_000
    # The index comes back with the chosen setting applied.
    params = dict(part.split("=") for part in chosen.params.split(","))
    assert faiss.extract_index_ivf(index).nprobe == int(params["nprobe"])
    assert faiss.downcast_index(index).k_factor == float(params["k_factor_rf"])


@pytest.mark.unit
def test_a_small_collection_gets_exact_search():
    data = _unit(3_000, 16, 7)
    index, chosen = build_chosen_index(data, progress=False, config=MeasureConfig(queries=100, min_seconds=0.01))
    assert chosen.factory == "Flat" and chosen.measured_recall == pytest.approx(1.0) and chosen.qps > 0
    assert "exact search is fast enough" in chosen.reason and index.ntotal == 3_000


@pytest.mark.unit
@pytest.mark.parametrize("n", [1, 5, 12])
def test_collections_of_k_or_fewer_vectors_are_indexed_and_meet_the_target(n):
    data = _unit(n + 1, 8, n)[:n]
    index, chosen = build_chosen_index(data, progress=False, config=MeasureConfig(min_seconds=0.01))
    assert index.ntotal == n and chosen.factory == "Flat" and chosen.measured_recall == pytest.approx(1.0)
    assert "no setting" not in chosen.reason


@pytest.mark.integration
def test_the_chosen_index_takes_all_vectors_and_is_retuned_on_them():
    data = _unit(6_000, 32, 8)
    config = MeasureConfig(
        queries=150,
        screen_n=2_000,
        seconds_per_candidate=5.0,
        min_seconds=0.02,
        chooser=ChooserConfig(flat_max=0, hnsw_max=0),
    )
    index, chosen = build_chosen_index(data, progress=False, memory_budget=GIB, config=config)
    assert index.ntotal == 6_000 and chosen.n == 6_000
    stages = {p["stage"] for p in chosen.curve}
    assert stages == {"screen", "final"}
    final = [p for p in chosen.curve if p["stage"] == "final"]
    assert {p["factory"] for p in final} == {chosen.factory}
    assert chosen.params in {p["params"] for p in final} and chosen.measured_recall >= 0.95
    # Every row can be found: the vectors added after screening kept their row numbers.
    _, ids = index.search(data[[0, 2_500, 5_999]], 10)
    assert all(row in found for row, found in zip([0, 2_500, 5_999], ids.tolist(), strict=True))


KEYWORDS = ["cat ears", "maid", "twintails", "glasses", "school uniform", "sword", "umbrella", "hat"]


def one_hot_encoder(texts: list[str]) -> np.ndarray:
    """A fake encoder whose nearest neighbours are known: one dimension per keyword."""
    out = np.zeros((len(texts), len(KEYWORDS)), dtype=np.float32)
    for row, text in enumerate(texts):
        for col, word in enumerate(KEYWORDS):
            if word in text:
                out[row, col] = 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-9)


@pytest.mark.unit
@pytest.mark.parametrize("factory", ["Flat", "HNSW32", "IVF16,Flat", "IVF16,PQ4x4fs,RFlat"])
def test_fake_encoder_retrieves_the_known_answers(factory):
    docs = [f"a girl with {w}" for w in KEYWORDS] * 40  # IVF training wants a few hundred vectors
    config = MeasureConfig(
        queries=50, min_seconds=0.01, seconds_per_candidate=2.0, candidates=[candidate_for(factory)]
    )
    index, _ = build_chosen_index(one_hot_encoder(docs), progress=False, config=config)
    if factory.startswith("IVF"):
        faiss.ParameterSpace().set_index_parameters(
            index, "nprobe=16,k_factor_rf=8" if "RFlat" in factory else "nprobe=16"
        )
    scores, ids = index.search(one_hot_encoder(["glasses", "a sword and a hat"]), 3)
    assert {i % len(KEYWORDS) for i in ids[0]} == {KEYWORDS.index("glasses")}
    assert scores[0, 0] == pytest.approx(1.0)
    assert {i % len(KEYWORDS) for i in ids[1][:2]} <= {KEYWORDS.index("sword"), KEYWORDS.index("hat")}
    assert scores[1, 0] == pytest.approx(np.sqrt(0.5), abs=1e-5)


@pytest.mark.unit
def test_build_rejects_an_empty_array():
    with pytest.raises(UserError, match="non-empty"):
        build_chosen_index(np.zeros((0, 8), dtype=np.float32), progress=False)
