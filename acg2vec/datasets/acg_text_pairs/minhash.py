"""Near-duplicate detection for summaries: MinHash over character n-grams.

Character n-grams rather than words, because Chinese and Japanese text has no spaces. Shingles are hashed
with CRC32 (stable across processes and runs, unlike Python's ``hash``) and permuted with fixed universal
hash functions, so signatures and therefore the kept rows are the same on every run.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

_PRIME = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64(0xFFFFFFFF)


@dataclass(slots=True)
class MinHashConfig:
    num_perm: int = 64
    ngram: int = 3
    threshold: float = 0.8
    seed: int = 20240601


def _permutations(config: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(config.seed)
    a = rng.integers(1, 1 << 32, size=config.num_perm, dtype=np.uint64)
    b = rng.integers(0, 1 << 32, size=config.num_perm, dtype=np.uint64)
    return a, b


class MinHasher:
    """Signatures of texts; ``similarity`` estimates the Jaccard similarity of their n-gram sets."""

    def __init__(self, config: MinHashConfig | None = None) -> None:
        self.config = config or MinHashConfig()
        self._a, self._b = _permutations(self.config)

    def shingles(self, text: str) -> set[str]:
        text = "".join(text.split())
        n = self.config.ngram
        if len(text) <= n:
            return {text}
        return {text[i : i + n] for i in range(len(text) - n + 1)}

    def signature(self, text: str) -> np.ndarray:
        hashes = np.fromiter((zlib.crc32(s.encode("utf-8")) for s in self.shingles(text)), dtype=np.uint64)
        # (a * x + b) mod p, truncated to 32 bits; the products stay below 2**64 since a, x < 2**32.
        permuted = (np.outer(hashes, self._a) + self._b) % _PRIME & _MAX32
        return permuted.min(axis=0)

    @staticmethod
    def similarity(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
        return float(np.mean(sig_a == sig_b))

    def near_duplicates(self, texts: list[str]) -> list[int | None]:
        """For each text, the index of an earlier kept text it nearly duplicates, or None if it is kept.

        Meant for small groups (the summaries of one anchor): every text is compared with the kept ones.
        """
        kept: list[tuple[int, np.ndarray]] = []
        result: list[int | None] = []
        for i, text in enumerate(texts):
            sig = self.signature(text)
            match = next((j for j, other in kept if self.similarity(sig, other) >= self.config.threshold), None)
            result.append(match)
            if match is None:
                kept.append((i, sig))
        return result
