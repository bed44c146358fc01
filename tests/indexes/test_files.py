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
from tests.damage import DAMAGES


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


# -- damaged files: the zoo over every file of a saved index, an index from before checksums, a full disk ---------

INDEX_FILES = ("index.faiss", "index_choice.json", IDS_FILE, "CHECKSUMS.json")
REPAIR = "acg2vec eval images --model m"


def _save_small(folder, n: int = 100, dim: int = 8, seed: int = 1) -> np.ndarray:
    data = _unit(n, dim, seed)
    chosen = ChosenIndex("Flat", "", "test", "ip", n, dim, 0.95, 1.0, 1.0, 1, 0.1)
    save_index(str(folder), _filled("Flat", data), chosen, ids=np.arange(n) * 3, built_from={"vectors": "kept"})
    return data


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One small saved index (Flat, 100 vectors of dimension 8) that each zoo case copies."""
    folder = tmp_path_factory.mktemp("saved") / "index"
    _save_small(folder)
    return folder


@pytest.mark.unit
def test_a_saved_index_records_what_was_written_and_its_checksums(saved):
    from acg2vec.integrity import verify_checksums

    written = json.loads((saved / "index_choice.json").read_text())["written"]
    assert written == {"ntotal": 100, "dim": 8, "factory": "Flat", "ids": 100, "built_from": {"vectors": "kept"}}
    assert verify_checksums(saved, what="the index", repair=REPAIR) == ["ids.npy", "index.faiss", "index_choice.json"]
    assert sorted(p.name for p in saved.parent.iterdir()) == ["index"]  # no temporary folder left beside it


@pytest.mark.unit
@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("name", INDEX_FILES)
def test_every_damage_to_an_index_file_is_named_with_its_repair(saved, tmp_path, name, damage):
    import shutil

    from acg2vec.integrity import DamagedFileError

    folder = tmp_path / "index"
    shutil.copytree(saved, folder)
    DAMAGES[damage](folder / name)
    with pytest.raises(DamagedFileError) as caught:
        load_index(str(folder), repair=REPAIR)
    assert caught.value.path == str(folder / name) and caught.value.exit_code == 3
    assert str(caught.value).startswith(f"{folder / name} is damaged (")
    assert str(caught.value).endswith(f"repair it with `{REPAIR}`.")


@pytest.mark.unit
def test_an_index_from_before_checksums_is_checked_against_its_vector_count_and_ids(tmp_path):
    import shutil

    from acg2vec.integrity import DamagedFileError

    folder, other = tmp_path / "old", tmp_path / "other"
    data = _save_small(folder)
    _save_small(other, n=60)
    (folder / "CHECKSUMS.json").unlink()  # written before acg2vec recorded checksums
    index, _ = load_index(str(folder))
    assert index.ntotal == 100 and index.search(data[:1], 1)[1][0, 0] == 0
    shutil.copyfile(other / "index.faiss", folder / "index.faiss")  # a readable index of other vectors
    with pytest.raises(DamagedFileError, match=r"\(it holds 60 vectors where 100 were written\); the 100 vectors"):
        load_index(str(folder), repair=REPAIR)
    _save_small(folder)
    (folder / "CHECKSUMS.json").unlink()
    shutil.copyfile(other / IDS_FILE, folder / IDS_FILE)
    with pytest.raises(DamagedFileError, match="it holds 60 ids for 100 indexed vectors"):
        load_index(str(folder), repair=REPAIR)


@pytest.mark.unit
def test_a_full_disk_while_saving_keeps_the_previous_index_whole(tmp_path):
    from acg2vec.integrity import DiskFullError
    from tests.damage import SmallDisk

    with SmallDisk(tmp_path / "disk", 4) as disk:
        folder = disk.path / "index"
        data = _save_small(folder)
        disk.fill(leave=16 * 1024)
        try:
            with pytest.raises(DiskFullError, match="because the disk is full") as caught:
                _save_small(folder, n=2_000, dim=64, seed=2)  # 512 KB of vectors: more than is left
        finally:
            disk.free()
        assert caught.value.exit_code == 4 and str(folder) in str(caught.value)
        assert ".tmp-" not in str(caught.value)  # named by its place in the folder, not by the temporary one
        index, chosen = load_index(str(folder))  # checksums, count and ids: the previous index, whole
        assert index.ntotal == chosen.n == 100 and index.search(data[:1], 1)[1][0, 0] == 0
        assert sorted(p.name for p in disk.path.iterdir() if p.name != ".filler") == ["index"]


@pytest.mark.unit
def test_without_a_repair_given_the_sentence_names_the_recorded_command(tmp_path):
    from acg2vec.integrity import DamagedFileError

    data = _unit(50, 8, 4)
    chosen = ChosenIndex("Flat", "", "test", "ip", 50, 8, 0.95, 1.0, 1.0, 1, 0.1)
    save_index(str(tmp_path / "eval"), _filled("Flat", data), chosen, built_from={"command": "acg2vec eval images"})
    DAMAGES["cut_short"](tmp_path / "eval" / "index.faiss")
    with pytest.raises(DamagedFileError, match=r"the 50 vectors .* repair it with `acg2vec eval images`\.$"):
        load_index(str(tmp_path / "eval"))
