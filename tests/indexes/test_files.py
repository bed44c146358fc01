"""The one layout of a chosen index: index.faiss, index_choice.json and ids.npy, written and read back."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from acg2vec.errors import UserError
from acg2vec.indexes.candidates import Candidate
from acg2vec.indexes.files import IDS_FILE, ChosenIndex, load_index, save_index
from acg2vec.indexes.index_choice import MeasureConfig, build_chosen_index
from acg2vec.indexes.synthetic import clustered_vectors


def _unit(n, dim, seed):
    data = clustered_vectors(n, dim, seed=seed)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def _filled(factory: str, data: np.ndarray):
    index = faiss.index_factory(data.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    index.train(data)
    index.add(data)
    return index


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
    save_index(str(tmp_path), index, chosen, ids=np.arange(3_000) * 7)
    assert (tmp_path / "index.faiss").is_file()
    assert json.loads((tmp_path / "index_choice.json").read_text())["factory"] == "IVF32,PQ16x4fs,Refine(SQ8)"
    np.testing.assert_array_equal(np.load(tmp_path / IDS_FILE), np.arange(3_000) * 7)
    loaded, again = load_index(str(tmp_path))
    assert again == chosen and loaded.ntotal == 3_000
    params = dict(part.split("=") for part in chosen.params.split(","))
    assert faiss.extract_index_ivf(loaded).nprobe == int(params["nprobe"])
    assert faiss.downcast_index(loaded).k_factor == float(params["k_factor_rf"])
    np.testing.assert_array_equal(loaded.search(data[:20], 10)[1], index.search(data[:20], 10)[1])


@pytest.mark.unit
def test_load_memory_maps_the_inverted_lists(tmp_path):
    data = _unit(2_000, 16, 10)
    index = _filled("IVF16,Flat", data)
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
    index = _filled("Flat", _unit(100, 8, 1))
    chosen = ChosenIndex("Flat", "", "test", "ip", 100, 8, 0.95, 1.0, 1.0, 1, 0.1)
    save_index(str(tmp_path), index, chosen)
    (tmp_path / "index_choice.json").write_text('{"factory": "Flat"}')
    with pytest.raises(UserError, match="missing"):
        load_index(str(tmp_path))
