"""The rules that propose index candidates: nlist, PQ sub-quantizers, size estimates, the candidates themselves."""

from __future__ import annotations

import pytest

from acg2vec.errors import UserError
from acg2vec.indexes.candidates import (
    GIB,
    Candidate,
    candidate_for,
    candidates,
    estimate_bytes,
    ivf_nlist,
    pq_m_for,
)

MIB = 1024**2


@pytest.mark.unit
def test_sizes_and_estimates():
    assert ivf_nlist(1_000_000) == 4096
    assert ivf_nlist(10_000_000) == 16384
    assert ivf_nlist(1_000) == 16  # never fewer than 16 lists
    assert estimate_bytes("IVF4096,PQ256x4fs,Refine(SQ8)", 1_000_000, 512) < GIB / 1.15  # the 1 GiB target
    assert estimate_bytes("OPQ128,IVF4096,PQ128x4fs,Refine(SQfp16)", 1000, 8) > 1000 * 8 * 2
    assert pq_m_for(512) == 128 and pq_m_for(512, 8) == 64 and pq_m_for(768, 2) == 384 and pq_m_for(100) % 2 == 0
    assert estimate_bytes("Flat", 1000, 8) == 32_000
    assert estimate_bytes("IVF16,PQ4x4fs,RFlat", 1000, 8) > estimate_bytes("IVF16,PQ4x4fs", 1000, 8) + 31_000


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


@pytest.mark.unit
def test_a_named_factory_becomes_one_candidate():
    assert candidate_for("Flat") == Candidate("Flat", [""], why="named Flat")
    assert candidate_for("HNSW32").kind == "hnsw"
    ivf = candidate_for("IVF4096,PQ64x4fs,RFlat")
    assert (ivf.base, ivf.refines, ivf.nlist, ivf.kind) == ("IVF4096,PQ64x4fs", ["Refine(Flat)"], 4096, "ivf")
    assert ivf.factory(ivf.refines[0]) == "IVF4096,PQ64x4fs,Refine(Flat)"
    rotated = candidate_for("OPQ64,IVF16384_HNSW32,PQ64x4fs,Refine(SQ8)")
    assert (rotated.base, rotated.refines, rotated.nlist) == ("OPQ64,IVF16384_HNSW32,PQ64x4fs", ["Refine(SQ8)"], 16384)
    assert candidate_for("IVF32,Flat").factory("") == "IVF32,Flat"
    with pytest.raises(UserError, match="cannot measure"):
        candidate_for("LSH")
