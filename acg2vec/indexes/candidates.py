"""The rules that propose FAISS index candidates for a collection, and the sizes they are checked against.

The rules (:func:`candidates`):

1. Few vectors (``< flat_max``): ``Flat`` -- exact search is already fast, and nothing beats its recall.
2. Up to ``hnsw_max`` vectors, when the graph fits: ``HNSW32`` beside the IVF candidates.
3. IVF with ``nlist`` the power of two at or above 4*sqrt(n) -- inside FAISS's guided range 4*sqrt(n)..16*sqrt(n)
   (the square root itself made the tuner open a quarter of the lists on broad clusters) -- and an HNSW coarse
   quantizer from 16,384 lists (``IVF16384_HNSW32`` at 10M), where scanning every centroid would cost more per
   query than the lists it opens.
4. 4-bit fast-scan PQ codes of dim/2 and dim/4 sub-quantizers (optionally OPQ-rotated) find candidates, which are
   re-ranked (``k_factor_rf``) with the raw vectors (``Refine(Flat)``) when they fit the memory budget, with
   half-floats when those fit and the raw vectors do not, and always also with 8-bit codes (``Refine(SQ8)``, a
   quarter of the raw size: what lets 1M x 512 fit in 1 GiB). Bare PQ codes only when no re-ranking fits.

:mod:`acg2vec.indexes.index_choice` measures the candidates and keeps the fastest that meets the targets.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from acg2vec.errors import UserError

GIB = 1024**3
# Estimates leave this much room for FAISS's own buffers, the query batch and the Python process.
HEADROOM = 1.15
REFINES = ("Refine(Flat)", "Refine(SQfp16)", "Refine(SQ8)")
HNSW_QUANTIZER_MIN_NLIST = 16_384


@dataclass(slots=True)
class ChooserConfig:
    """Thresholds of the index rules (see the module docstring)."""

    flat_max: int = 20_000
    hnsw_max: int = 200_000
    hnsw_m: int = 32


@dataclass(slots=True)
class Candidate:
    """A candidate generator (``base`` factory string) and the re-ranking variants measured on top of it."""

    base: str
    refines: list[str]
    nlist: int = 0
    why: str = ""

    def factory(self, refine: str) -> str:
        """The factory string of this candidate with one of its ``refines`` (``""``: the base alone)."""
        return f"{self.base},{refine}" if refine else self.base

    @property
    def kind(self) -> str:
        """``flat``, ``hnsw`` or ``ivf``: which search parameter the measurement sweeps."""
        if self.base == "Flat":
            return "flat"
        return "hnsw" if self.base.startswith("HNSW") else "ivf"


def pq_m_for(dim: int, per: int = 4) -> int:
    """Number of PQ sub-quantizers: an even divisor of ``dim`` near dim / ``per`` (fast-scan wants an even count)."""
    target = max(2, dim // per)
    for delta in range(dim):
        for m in (target - delta, target + delta):
            if 2 <= m <= dim and dim % m == 0 and m % 2 == 0:
                return m
    raise UserError(f"cannot split dimension {dim} into an even number of PQ sub-vectors.")


def _split_refine(factory: str) -> tuple[list[str], str | None]:
    """The factory's parts without a trailing ``RFlat`` / ``Refine(...)``, and that re-ranking part (or None)."""
    parts = factory.split(",")
    if parts[-1] == "RFlat" or parts[-1].startswith("Refine("):
        return parts[:-1], parts[-1]
    return parts, None


def estimate_bytes(factory: str, n: int, dim: int) -> int:
    """Rough resident size of an index built from ``factory`` holding ``n`` vectors of ``dim`` floats.

    Understands ``Flat``, ``HNSW{M}``, ``[OPQ{m},]IVF{nlist}[_HNSW{M}],{Flat|PQ{m}x4fs|PQ{m}|SQ8|SQfp16}`` and a
    trailing ``RFlat`` / ``Refine(Flat|SQfp16|SQ8)``.
    """
    raw = n * dim * 4
    parts, refine = _split_refine(factory)
    total = 0
    if parts[0].startswith("OPQ"):
        parts.pop(0)
        total += dim * dim * 4
    head = parts[0]
    if head == "Flat":
        total += raw
    elif head.startswith("HNSW"):
        m = int(head[4:])
        # Level 0 keeps 2*M neighbour ids per vector; the upper levels add about 1/M of that.
        total += raw + int(n * 2 * m * 4 * (1 + 1 / m)) + n * 8
    else:
        total += _ivf_bytes(head, parts[1], n, dim)
    if refine is not None:
        inner = "Flat" if refine == "RFlat" else refine[len("Refine(") : -1]
        total += {"Flat": raw, "SQfp16": n * dim * 2, "SQ8": n * dim + 2 * dim * 4}[inner]
    return int(total)


def _ivf_bytes(head: str, codes: str, n: int, dim: int) -> int:
    """Size of ``IVF{nlist}[_HNSW{M}]`` lists holding ``codes`` (Flat, PQ{m}x4fs, PQ{m}, SQ8 or SQfp16)."""
    nlist_text, _, quantizer = head[3:].partition("_")
    nlist = int(nlist_text)
    total = nlist * dim * 4 + n * 8  # centroids + ids in the inverted lists
    if quantizer.startswith("HNSW"):
        total += nlist * 2 * int(quantizer[4:]) * 4 * 2
    if codes == "Flat":
        total += n * dim * 4
    elif codes.startswith("PQ"):
        m = int(codes[2:].split("x")[0])
        bits = 4 if codes.endswith("fs") or "x4" in codes else 8
        # Fast-scan lists are padded to blocks of 32 codes; the codebooks are tiny.
        total += n * m * bits // 8 + (nlist * 16 * m if codes.endswith("fs") else 0) + m * 2**bits * (dim // m) * 4
    elif codes == "SQ8":
        total += n * dim
    elif codes == "SQfp16":
        total += n * dim * 2
    return total


def ivf_nlist(n: int) -> int:
    """IVF lists for ``n`` vectors: the power of two at or above 4*sqrt(n), the low end of FAISS's guided range
    4*sqrt(n)..16*sqrt(n), and at most n / 39 (k-means wants 39 points per list), at least 16."""
    nlist = 2 ** math.ceil(math.log2(max(4 * math.sqrt(max(n, 1)), 1)))
    while nlist > 16 and nlist * 39 > n:
        nlist //= 2
    return max(16, nlist)


def ivf_head(nlist: int) -> str:
    """``IVF{nlist}``, with an HNSW coarse quantizer from 16,384 lists: scanning all centroids would then cost more
    per query than the lists it opens (16,384 x 512 floats = 32 MiB read per query)."""
    return f"IVF{nlist}_HNSW32" if nlist >= HNSW_QUANTIZER_MIN_NLIST else f"IVF{nlist}"


def candidates(
    n: int, dim: int, *, memory_budget: int = 4 * GIB, config: ChooserConfig | None = None, opq: bool = False
) -> list[Candidate]:
    """The candidates the rules allow for ``n`` vectors of ``dim`` floats within ``memory_budget`` bytes.

    - fewer than ``flat_max`` vectors: ``Flat`` alone (exact search is already fast);
    - up to ``hnsw_max`` vectors: ``HNSW32`` when its graph and vectors fit, beside the IVF candidates;
    - IVF with :func:`ivf_nlist` lists (:func:`ivf_head` adds the HNSW coarse quantizer for large nlist) and 4-bit
      fast-scan PQ codes of dim/2 and dim/4 sub-quantizers, each with and without an OPQ rotation, re-ranked with
      the raw vectors (``Refine(Flat)``) when they fit, with half-floats when those fit and the raw vectors not,
      and always also with 8-bit codes (``Refine(SQ8)``: a quarter of the raw size); bare PQ codes (approximate
      distances) only when no re-ranking fits.
    """
    cfg = config or ChooserConfig()
    if n <= 0 or dim <= 0:
        raise UserError(f"cannot build an index of {n} vectors of dimension {dim}.")

    def fits(factory: str) -> bool:
        return estimate_bytes(factory, n, dim) * HEADROOM <= memory_budget

    if n < cfg.flat_max and fits("Flat"):
        return [Candidate("Flat", [""], why=f"{n:,} < {cfg.flat_max:,} vectors: exact search is fast enough")]
    out = []
    hnsw = f"HNSW{cfg.hnsw_m}"
    if n <= cfg.hnsw_max and fits(hnsw):
        out.append(Candidate(hnsw, [""], why=f"{n:,} <= {cfg.hnsw_max:,} vectors and the graph fits"))
    nlist = ivf_nlist(n)
    head = ivf_head(nlist)
    for m in dict.fromkeys(pq_m_for(dim, per) for per in (2, 4)):
        for rotate in (False, True) if opq else (False,):
            base = f"OPQ{m},{head},PQ{m}x4fs" if rotate else f"{head},PQ{m}x4fs"
            fitting = [r for r in REFINES if fits(f"{base},{r}")]
            # The most precise re-ranking that fits, and the compact 8-bit one beside it.
            refines = list(dict.fromkeys(fitting[:1] + fitting[-1:]))
            if not refines and fits(base):
                refines = [""]
            if refines:
                out.append(Candidate(base, refines, nlist, f"{nlist} lists in 4*sqrt(n)..16*sqrt(n)"))
    if not out:
        need = estimate_bytes(f"{head},PQ{pq_m_for(dim, 8)}x4fs", n, dim) * HEADROOM / GIB
        raise UserError(
            f"{n} vectors of dimension {dim} need at least {need:.2f} GiB even as PQ codes; raise the memory budget."
        )
    return out


def candidate_for(factory: str) -> Candidate:
    """The candidate that measures one named factory string (``Flat``, ``HNSW{M}`` or ``[OPQ{m},]IVF{nlist}...``,
    with an optional trailing ``RFlat`` / ``Refine(...)``), as ``acg2vec eval ann --factory`` names them."""
    parts, refine = _split_refine(factory)
    refine = "Refine(Flat)" if refine == "RFlat" else refine or ""
    base = ",".join(parts)
    head = parts[1] if parts[0].startswith("OPQ") and len(parts) > 1 else parts[0]
    if base == "Flat" or head.startswith("HNSW"):
        return Candidate(base, [refine], why=f"named {factory}")
    match = re.fullmatch(r"IVF(\d+)(_HNSW\d+)?", head)
    if match is None or len(parts) < 2:
        raise UserError(f"cannot measure {factory!r}: name Flat, HNSW<M> or IVF<nlist>,<codes>[,Refine(...)].")
    return Candidate(base, [refine], int(match.group(1)), f"named {factory}")
