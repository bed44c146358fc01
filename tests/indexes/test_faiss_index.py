"""The FAISS layer: the rules' decisions, building, tuning, index files, and search with a fake encoder of known answers."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.evaluation.ann_benchmark import clustered_vectors
from acg2vec.indexes.faiss_index import (
    GIB,
    Candidate,
    ChosenIndex,
    build_index,
    candidates,
    choose_index,
    estimate_bytes,
    exact_search,
    ivf_nlist,
    load_index,
    nlist_for,
    pq_m_for,
    recall_at,
    save_index,
    tune_index,
)
from acg2vec.indexes.index_choice import MeasureConfig, build_chosen_index

MIB = 1024**2


@pytest.mark.unit
@pytest.mark.parametrize(
    ("n", "dim", "budget", "factory"),
    [
        (1_000, 512, 4 * GIB, "Flat"),
        (100_000, 512, 4 * GIB, "HNSW32"),
        # Raw vectors (2 GB) and 128-byte PQ codes fit 4 GiB: fast-scan candidates, exact re-ranking.
        (1_000_000, 512, 4 * GIB, "IVF4096,PQ256x4fs,RFlat"),
        # 2.45 GB: raw vectors and 32-byte codes fit, 64-byte ones do not.
        (1_000_000, 512, int(2.45e9), "IVF4096,PQ64x4fs,RFlat"),
        # 2.4 GB: the raw vectors fit, no codes beside them.
        (1_000_000, 512, int(2.4e9), "IVF4096,Flat"),
        # 2 GB of raw vectors do not fit 1 GiB: PQ candidates (128 B), re-ranked with 8-bit codes (~0.65 GB).
        (1_000_000, 512, 1 * GIB, "IVF4096,PQ256x4fs,Refine(SQ8)"),
        # 16,384 lists: an HNSW graph over the centroids finds the lists to open.
        (10_000_000, 512, 64 * GIB, "IVF16384_HNSW32,PQ256x4fs,RFlat"),
        # 100k x 512 floats (200 MB) exceed 100 MiB, the 8-bit copy (51 MB) does not.
        (100_000, 512, 100 * MIB, "IVF2048,PQ256x4fs,Refine(SQ8)"),
        # Only the PQ codes fit, and only with 64 sub-quantizers (40 B per vector with its id; 128 would need 72 B).
        (10_000_000, 512, 550 * MIB, "IVF16384_HNSW32,PQ64x4fs"),
        (10_000_000, 512, 900 * MIB, "IVF16384_HNSW32,PQ128x4fs"),
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
    assert nlist_for(1_000_000) == 4096
    assert nlist_for(10_000_000) == 16384
    assert nlist_for(1_000) == 16  # never fewer than 16 lists
    assert estimate_bytes("IVF4096,PQ256x4fs,Refine(SQ8)", 1_000_000, 512) < GIB / 1.15  # the 1 GiB target
    assert estimate_bytes("OPQ128,IVF4096,PQ128x4fs,Refine(SQfp16)", 1000, 8) > 1000 * 8 * 2
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
@pytest.mark.parametrize("n", [100_000, 1_000_000, 10_000_000, 100_000_000])
def test_nlist_is_in_faiss_guided_range(n):
    nlist = ivf_nlist(n)
    assert 4 * n**0.5 <= nlist <= 16 * n**0.5 and nlist & (nlist - 1) == 0
    assert nlist * 39 <= n  # k-means gets enough points per list


@pytest.mark.unit
def test_candidates_follow_the_rules():
    assert [c.base for c in candidates(5_000, 512)] == ["Flat"]
    mid = candidates(100_000, 512, memory_budget=4 * GIB)
    assert mid[0].base == "HNSW32"
    assert [c.base for c in mid[1:]] == ["IVF2048,PQ256x4fs", "IVF2048,PQ128x4fs"]
    assert all(c.refines == ["Refine(Flat)", "Refine(SQ8)"] for c in mid[1:])  # exact and compressed re-ranking
    # 1M x 512 in 1 GiB: the raw vectors (1.95 GiB) and half-floats (0.98 GiB) do not fit, 8-bit codes do.
    tight = candidates(1_000_000, 512, memory_budget=GIB)
    assert [c.base for c in tight] == ["IVF4096,PQ256x4fs", "IVF4096,PQ128x4fs"]
    assert all(c.refines == ["Refine(SQ8)"] for c in tight)
    # 10M in 14 GiB: the HNSW coarse quantizer, re-ranking with half-floats beside the 8-bit codes.
    big = candidates(10_000_000, 512, memory_budget=14 * GIB)
    assert big[0].base == "IVF16384_HNSW32,PQ256x4fs" and big[0].refines == ["Refine(SQfp16)", "Refine(SQ8)"]
    rotated = [c.base for c in candidates(1_000_000, 512, memory_budget=GIB, opq=True)]
    assert rotated == [
        "IVF4096,PQ256x4fs",
        "OPQ256,IVF4096,PQ256x4fs",
        "IVF4096,PQ128x4fs",
        "OPQ128,IVF4096,PQ128x4fs",
    ]
    # Only bare PQ codes fit 200 MiB at 1M x 512.
    bare = candidates(1_000_000, 512, memory_budget=200 * MIB)
    assert bare and all(c.refines == [""] for c in bare)
    with pytest.raises(UserError, match="raise the memory budget"):
        candidates(10_000_000, 512, memory_budget=100 * MIB)


def _unit(n, dim, seed):
    data = clustered_vectors(n, dim, seed=seed)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


@pytest.mark.unit
def test_save_and_load_round_trip_applies_the_tuned_parameters(tmp_path):
    data = _unit(3_000, 32, 9)
    config = MeasureConfig(
        queries=100,
        seconds_per_candidate=3.0,
        min_seconds=0.01,
        candidates=[Candidate("IVF32,PQ16x4fs", ["Refine(SQ8)"], 32)],
    )
    index, chosen = build_chosen_index(data, progress=False, config=config)
    assert ChosenIndex.from_json(json.loads(json.dumps(chosen.to_json()))) == chosen
    save_index(str(tmp_path), index, chosen)
    assert (tmp_path / "index.faiss").is_file()
    assert json.loads((tmp_path / "index_choice.json").read_text())["factory"] == "IVF32,PQ16x4fs,Refine(SQ8)"
    loaded, again = load_index(str(tmp_path))
    assert again == chosen and loaded.ntotal == 3_000
    params = dict(part.split("=") for part in chosen.params.split(","))
    assert faiss.extract_index_ivf(loaded).nprobe == int(params["nprobe"])
    assert faiss.downcast_index(loaded).k_factor == float(params["k_factor_rf"])
    np.testing.assert_array_equal(loaded.search(data[:20], 10)[1], index.search(data[:20], 10)[1])


@pytest.mark.unit
def test_load_memory_maps_the_inverted_lists(tmp_path):
    data = _unit(2_000, 16, 10)
    index = build_index(data, factory="IVF16,Flat", metric="ip", progress=False)
    chosen = ChosenIndex("IVF16,Flat", "nprobe=4", "test", "ip", 2_000, 16, 0.95, 0.97, 1000.0, 1, 0.1)
    save_index(str(tmp_path), index, chosen)
    mapped, _ = load_index(str(tmp_path))
    lists = faiss.downcast_InvertedLists(faiss.extract_index_ivf(mapped).invlists)
    assert isinstance(lists, faiss.OnDiskInvertedLists)  # read from the page cache, not copied
    assert faiss.extract_index_ivf(mapped).nprobe == 4
    in_memory, _ = load_index(str(tmp_path), mmap=False)
    assert isinstance(
        faiss.downcast_InvertedLists(faiss.extract_index_ivf(in_memory).invlists), faiss.ArrayInvertedLists
    )
    apply = faiss.ParameterSpace()
    apply.set_index_parameters(index, "nprobe=4")
    np.testing.assert_array_equal(mapped.search(data[:10], 5)[1], index.search(data[:10], 5)[1])


@pytest.mark.unit
def test_load_explains_a_missing_or_broken_index(tmp_path):
    with pytest.raises(UserError, match="build the index first"):
        load_index(str(tmp_path))
    index = build_index(_unit(100, 8, 1), factory="Flat", progress=False)
    chosen = ChosenIndex("Flat", "", "test", "ip", 100, 8, 0.95, 1.0, 1.0, 1, 0.1)
    save_index(str(tmp_path), index, chosen)
    (tmp_path / "index_choice.json").write_text('{"factory": "Flat"}')
    with pytest.raises(UserError, match="missing"):
        load_index(str(tmp_path))
