"""MinHash near-duplicate detection over character n-grams."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.datasets.acg_text_pairs.minhash import MinHashConfig, MinHasher

pytestmark = pytest.mark.unit

SUMMARY = "在被外星人占领的江户，万事屋的坂田银时和伙伴们接下各种委托，过着吵吵闹闹的日子。新八和神乐也加入了万事屋。"


def test_identical_and_unrelated_texts() -> None:
    hasher = MinHasher()
    assert hasher.similarity(hasher.signature(SUMMARY), hasher.signature(SUMMARY)) == 1.0
    other = "十四岁的碇真嗣被父亲召唤到第三新东京市，驾驶人型兵器EVA与使徒作战。"
    assert hasher.similarity(hasher.signature(SUMMARY), hasher.signature(other)) < 0.2


def test_near_duplicate_cjk_without_spaces() -> None:
    edited = SUMMARY.replace("。新八", "。志村新八")  # a small edit, no spaces anywhere
    result = MinHasher().near_duplicates([SUMMARY, "完全不同的一段简介，讲述魔法少女的故事。", edited])
    assert result == [None, None, 0]


def test_threshold_is_respected() -> None:
    half = SUMMARY[: len(SUMMARY) // 2] + "完全不同的后半部分内容在这里继续写下去直到结束为止。"
    assert MinHasher(MinHashConfig(threshold=0.95)).near_duplicates([SUMMARY, half]) == [None, None]


def test_signatures_are_stable_across_instances() -> None:
    # Fixed seeds and CRC32 shingles: a new process computes the same signature.
    assert np.array_equal(MinHasher().signature(SUMMARY), MinHasher().signature(SUMMARY))
    assert MinHasher().signature(SUMMARY).shape == (64,)
