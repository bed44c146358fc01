"""The FAISS layer: the chooser's decisions, building, tuning, and search with a fake encoder of known answers."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.evaluation.ann_benchmark import clustered_vectors
from acg2vec.evaluation.faiss_index import (
    GIB,
    build_index,
    choose_index,
    estimate_bytes,
    exact_search,
    nlist_for,
    pq_m_for,
    recall_at,
    tune_index,
)

MIB = 1024**2


@pytest.mark.unit
@pytest.mark.parametrize(
    ("n", "dim", "budget", "factory"),
    [
        (1_000, 512, 4 * GIB, "Flat"),
        (100_000, 512, 4 * GIB, "HNSW32"),
        # Raw vectors (2 GB) and 128-byte PQ codes fit 4 GiB: fast-scan candidates, exact re-ranking.
        (1_000_000, 512, 4 * GIB, "IVF1024,PQ256x4fs,RFlat"),
        # 2.42 GB: raw vectors and 32-byte codes fit, 64-byte ones do not.
        (1_000_000, 512, int(2.42e9), "IVF1024,PQ64x4fs,RFlat"),
        # 2.38 GB: the raw vectors fit, no codes beside them.
        (1_000_000, 512, int(2.38e9), "IVF1024,Flat"),
        # 2 GB of raw vectors do not fit 1 GiB: PQ candidates (128 B), re-ranked with 8-bit codes (~0.65 GB).
        (1_000_000, 512, 1 * GIB, "IVF1024,PQ256x4fs,Refine(SQ8)"),
        (10_000_000, 512, 64 * GIB, "IVF4096,PQ256x4fs,RFlat"),
        # 100k x 512 floats (200 MB) exceed 100 MiB, the 8-bit copy (51 MB) does not.
        (100_000, 512, 100 * MIB, "IVF256,PQ256x4fs,Refine(SQ8)"),
        # Only the PQ codes fit, and only with 64 sub-quantizers (40 B per vector with its id; 128 would need 72 B).
        (10_000_000, 512, 500 * MIB, "IVF4096,PQ64x4fs"),
        (10_000_000, 512, 900 * MIB, "IVF4096,PQ128x4fs"),
    ],
)
def test_chooser_decisions(n, dim, budget, factory):
    choice = choose_index(n, dim, memory_budget=budget)
    assert choice.factory == factory
    assert choice.estimated_bytes * 1.15 <= budget
    assert choice.reason


@pytest.mark.unit
def test_chooser_refuses_a_budget_too_small_for_anything():
    with pytest.raises(UserError, match="raise the memory budget"):
        choose_index(10_000_000, 512, memory_budget=100 * MIB)


@pytest.mark.unit
def test_sizes_and_estimates():
    assert nlist_for(1_000_000) == 1024
    assert nlist_for(10_000_000) == 4096
    assert nlist_for(1_000) == 16  # never fewer than 16 lists
    assert pq_m_for(512) == 128 and pq_m_for(512, 8) == 64 and pq_m_for(768, 2) == 384 and pq_m_for(100) % 2 == 0
    assert estimate_bytes("Flat", 1000, 8) == 32_000
    assert estimate_bytes("IVF16,PQ4x4fs,RFlat", 1000, 8) > estimate_bytes("IVF16,PQ4x4fs", 1000, 8) + 31_000


@pytest.mark.unit
def test_recall_at_hand_computed():
    found = np.array([[1, 2, 3], [4, 5, 6]])
    truth = np.array([[1, 9, 3], [6, 5, 4]])
    assert recall_at(found, truth, 1) == pytest.approx(0.5)  # 1 == 1, 4 != 6
    assert recall_at(found, truth, 3) == pytest.approx(5 / 6)


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
    index = build_index(one_hot_encoder(docs), factory=factory, metric="ip", progress=False)
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
def test_tuner_picks_the_fastest_setting_that_meets_the_target():
    data = clustered_vectors(6_000, 32, seed=3)
    base, queries = data[:5_000], data[5_000:5_200]
    _, truth = exact_search(base, queries, 10)
    index = build_index(base, factory="IVF64,Flat", progress=False)
    tuned = tune_index(index, queries, truth, k=10, target_recall=0.9)
    assert tuned.met_target and tuned.recall >= 0.9
    assert tuned.params.startswith("nprobe=") and index.nprobe == int(tuned.params.split("=")[1])
    _, ids = index.search(queries, 10)
    assert recall_at(ids, truth, 10) == pytest.approx(tuned.recall)
    # Nothing cheaper on the Pareto front meets the target.
    cheaper = [p for p in tuned.pareto if p[2] < tuned.ms_per_query]
    assert all(p[1] < 0.9 for p in cheaper)


@pytest.mark.unit
def test_exact_index_has_nothing_to_tune():
    data = clustered_vectors(600, 16, seed=1)
    _, truth = exact_search(data[:500], data[500:], 10)
    index = build_index(data[:500], progress=False)
    tuned = tune_index(index, data[500:], truth)
    assert tuned.params == "" and tuned.recall == pytest.approx(1.0)


@pytest.mark.unit
def test_build_rejects_an_empty_array():
    with pytest.raises(UserError, match="non-empty"):
        build_index(np.zeros((0, 8), dtype=np.float32), progress=False)


@pytest.mark.unit
def test_tuner_with_a_latency_budget_takes_the_most_accurate_setting_within_it():
    data = clustered_vectors(6_000, 32, seed=4)
    base, queries = data[:5_000], data[5_000:5_200]
    _, truth = exact_search(base, queries, 10)
    index = build_index(base, factory="IVF64,Flat", progress=False)
    generous = tune_index(index, queries, truth, max_ms_per_query=1e6)
    assert generous.recall == pytest.approx(max(p[1] for p in generous.pareto))
    strict = tune_index(index, queries, truth, max_ms_per_query=0.0)  # nothing fits: the fastest setting
    assert strict.ms_per_query == pytest.approx(min(p[2] for p in strict.pareto)) and not strict.met_target


@pytest.mark.unit
def test_chosen_index_round_trip_applies_the_tuned_parameters(tmp_path):
    from acg2vec.evaluation.faiss_index import ChosenIndex, build_chosen_index, load_index, save_index

    data = clustered_vectors(3_000, 32, seed=5)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    index, chosen = build_chosen_index(data, progress=False)
    assert chosen.n == 3_000 and chosen.dim == 32 and chosen.metric == "ip" and chosen.reason
    assert ChosenIndex.from_json(chosen.to_json()) == chosen
    save_index(str(tmp_path), index, chosen)
    assert (tmp_path / "index.faiss").is_file() and (tmp_path / "index_choice.json").is_file()
    loaded, again = load_index(str(tmp_path))
    assert again == chosen and loaded.ntotal == 3_000
    _, ids = loaded.search(data[:5], 1)
    assert ids[:, 0].tolist() == [0, 1, 2, 3, 4]
