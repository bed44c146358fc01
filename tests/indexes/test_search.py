"""What the index steps share: recall@k against exact search."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.indexes.search import exact_search, recall_at


@pytest.mark.unit
def test_recall_at_hand_computed():
    found = np.array([[1, 2, 3], [4, 5, 6]])
    truth = np.array([[1, 9, 3], [6, 5, 4]])
    assert recall_at(found, truth, 1) == pytest.approx(0.5)  # 1 == 1, 4 != 6
    assert recall_at(found, truth, 3) == pytest.approx(5 / 6)


@pytest.mark.unit
def test_exact_search_finds_each_vector_itself_first():
    vectors = np.eye(4, dtype=np.float32) + 0.1
    scores, ids = exact_search(vectors, vectors, 2, metric="ip")
    assert ids[:, 0].tolist() == [0, 1, 2, 3] and scores[0, 0] == pytest.approx(float(vectors[0] @ vectors[0]))
