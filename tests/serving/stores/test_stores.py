"""The FAISS and Milvus (milvus-lite) stores answer the same queries the same way, within ANN tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from acg2vec.serving.indexing import write_vectors
from acg2vec.serving.stores import open_store
from acg2vec.serving.stores.base import unit_rows
from tests.serving.fakes import milvus_client  # noqa: F401 -- fixture

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def index_folder(tmp_path_factory):
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(20, 32))
    vectors = centres[rng.integers(0, 20, size=3000)] + 0.3 * rng.normal(size=(3000, 32))
    ids = np.arange(3000, dtype=np.int64) * 7 + 1000  # ids are not row numbers
    folder = tmp_path_factory.mktemp("index") / "images-test"
    meta = write_vectors(str(folder), ids, vectors, {"kind": "images"}, memory_budget=None)
    assert meta["count"] == 3000 and meta["dim"] == 32
    queries = unit_rows(vectors[rng.choice(3000, 50, replace=False)] + 0.05 * rng.normal(size=(50, 32)))
    return folder, ids, unit_rows(vectors), queries


def exact(vectors, ids, queries, k):
    order = np.argsort(-(queries @ vectors.T), axis=1)[:, :k]
    return ids[order]


@pytest.fixture(scope="module")
def stores(index_folder, milvus_client):  # noqa: F811
    folder = index_folder[0]
    faiss_store = open_store(str(folder))
    milvus_store = open_store(str(folder), backend="milvus", milvus_uri="embedded", client=milvus_client)
    yield faiss_store, milvus_store
    milvus_store.close()


def test_both_backends_find_the_exact_neighbours(index_folder, stores):
    _, ids, vectors, queries = index_folder
    truth = exact(vectors, ids, queries, 10)
    answers = {}
    for store in stores:
        hits = store.search(queries, 10)
        found = np.array([[h.id for h in row] for row in hits])
        recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
        assert recall >= 0.95, (store.backend, recall)
        scores = np.array([[h.score for h in row] for row in hits])
        assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
        # Plain Python numbers, ready for JSON and for the filters (no NumPy scalar per hit).
        assert all(type(h.id) is int and type(h.score) is float for row in hits for h in row)
        answers[store.backend] = hits
    # Same top hit and scores within float tolerance wherever both return the same id.
    for faiss_row, milvus_row in zip(answers["faiss"], answers["milvus"], strict=True):
        assert faiss_row[0].id == milvus_row[0].id
        assert faiss_row[0].score == pytest.approx(milvus_row[0].score, abs=1e-4)


def test_filters_fetch_deeper_until_k_pass(index_folder, stores):
    _, ids, vectors, queries = index_folder
    wanted = set(ids[::50].tolist())  # 60 of 3000 ids: the nearest neighbours rarely pass
    for store in stores:
        hits = store.search(queries[:5], 8, keep=wanted.__contains__)
        for row in hits:
            assert len(row) == 8 and all(h.id in wanted for h in row)
        # The filtered answer is the exact ranking restricted to the allowed ids.
        allowed = np.array(sorted(wanted))
        rows = np.searchsorted(ids, allowed)
        expect = exact(vectors[rows], allowed, queries[:5], 8)
        for row, truth in zip(hits, expect, strict=True):
            assert len({h.id for h in row} & set(truth.tolist())) >= 7


def test_exclude_and_vectors_by_id(index_folder, stores):
    _, ids, vectors, _ = index_folder
    for store in stores:
        own = store.vector(int(ids[42]))
        assert own == pytest.approx(vectors[42], abs=1e-5)
        assert store.vector(-5) is None
        hits = store.search(own, 3, exclude={int(ids[42])})[0]
        assert int(ids[42]) not in [h.id for h in hits] and len(hits) == 3


def test_faiss_store_maps_the_index_and_vectors(stores):
    faiss_store = stores[0]
    assert isinstance(faiss_store.vectors, np.memmap)
    assert faiss_store.choice.factory == faiss_store.meta["factory"]


def test_milvus_collection_is_reused_or_reloaded(index_folder, milvus_client):  # noqa: F811
    folder = index_folder[0]
    again = open_store(str(folder), backend="milvus", milvus_uri="embedded", client=milvus_client)
    assert again.collection == "acg2vec_images_test"
    assert milvus_client.get_collection_stats(again.collection)["row_count"] == 3000
    milvus_client.drop_collection(again.collection)
    reloaded = open_store(str(folder), backend="milvus", milvus_uri="embedded", client=milvus_client)
    assert reloaded.search(reloaded.vector(1000), 1)[0][0].id == 1000


def test_unknown_backend_and_missing_uri_are_one_sentence(index_folder):
    from acg2vec.errors import UserError

    with pytest.raises(UserError, match="unknown vector store 'redis'"):
        open_store(str(index_folder[0]), backend="redis")
    with pytest.raises(UserError, match="needs --milvus-uri"):
        open_store(str(index_folder[0]), backend="milvus")


@pytest.mark.parametrize("damage", ["cut_short", "wrong_kind"])
def test_milvus_loads_no_vectors_from_a_damaged_folder(index_folder, milvus_client, tmp_path, damage):  # noqa: F811
    """The Milvus path reads the folder's own files: a damaged vectors.npy is named before the collection is dropped
    or filled."""
    import shutil

    from acg2vec.integrity import DamagedFileError
    from tests.damage import DAMAGES

    folder = tmp_path / "images"
    shutil.copytree(index_folder[0], folder)
    DAMAGES[damage](folder / "vectors.npy")

    def rows() -> int | None:  # the collection of another test's images folder, if this session made one
        has = milvus_client.has_collection("acg2vec_images")
        return milvus_client.get_collection_stats("acg2vec_images")["row_count"] if has else None

    before = rows()
    with pytest.raises(DamagedFileError) as caught:
        open_store(str(folder), backend="milvus", milvus_uri="embedded", client=milvus_client, rebuild=True)
    assert caught.value.path == str(folder / "vectors.npy") and "the 3,000 kept vectors" in str(caught.value)
    assert str(caught.value).endswith("repair it with `acg2vec index images`.")
    assert rows() == before  # nothing dropped, nothing inserted
