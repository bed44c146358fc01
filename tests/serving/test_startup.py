"""Damaged index folders at ``serve`` start-up and on an ``acg2vec index`` re-run, on the tiny served workdir.

Every file of every index folder through the damaged-file zoo: found (the file named, with its repair command);
repaired by the start-up path (from the kept vectors, or from the dataset and the model) into a folder that answers
the same searches as before; or, where nothing is left to rebuild from, ``serve`` stops with the sentence. The full
matrix of repairs is ``slow``; the fast tests repair one damage of each kind of file.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from acg2vec.cli import app as cli_app
from acg2vec.errors import UserError
from acg2vec.integrity import DamagedFileError, DiskFullError
from acg2vec.serving import indexing
from acg2vec.serving.catalog import Posts, Tags, Works
from acg2vec.serving.services import ServeConfig, build_missing
from acg2vec.serving.startup import check_folder
from acg2vec.serving.stores import open_store
from tests.damage import DAMAGES, SmallDisk
from tests.serving.fakes import served_workdir  # noqa: F401 -- fixture
from tests.serving.server import free_port

pytestmark = pytest.mark.integration

VECTOR_FILES = ["index.faiss", "index_choice.json", "ids.npy", "vectors.npy", "meta.json", "CHECKSUMS.json"]
FOLDER_FILES = {
    "images": [*VECTOR_FILES, "posts.parquet", "thumbnails.bin"],
    "works": [*VECTOR_FILES, "works.parquet", "titles.parquet"],
    "tags": ["tags.parquet", "meta.json", "CHECKSUMS.json"],
}
CASES = [(folder, name) for folder, names in FOLDER_FILES.items() for name in names]
REPAIRS = {"images": "acg2vec index images", "works": "acg2vec index texts", "tags": "acg2vec index texts"}
WHAT = {"images": "image index", "works": "work index", "tags": "tag list"}


def answers(workdir: Path) -> dict:
    """What the served folders answer, read without the models: the five nearest posts and titles of a few stored
    vectors (ids and scores), a post's metadata and thumbnail, a work search's grouping, a tag completion."""
    out = {}
    for name in ("images", "works"):
        store = open_store(str(workdir / "index" / name))
        queries = np.stack([store.vector(int(i)) for i in store.ids[:4]])
        found = store.search(queries, 5)
        out[name] = [[(hit.id, round(hit.score, 4)) for hit in hits] for hits in found]
    posts = Posts(str(workdir / "index" / "images"))
    out["post"] = (posts.get(3), posts.thumbnail(3))
    works = Works(str(workdir / "index" / "works"))
    out["works_group"] = works.group([(0, 0.9), (4, 0.8)], 2)
    out["tags"] = Tags.load(str(workdir / "index" / "tags")).complete("b")
    return out


@pytest.fixture(scope="module")
def before(served_workdir):  # noqa: F811
    return answers(served_workdir)


def copy_workdir(served_workdir: Path, tmp_path: Path) -> Path:  # noqa: F811
    workdir = tmp_path / "acg2vec-data"
    shutil.copytree(served_workdir, workdir, ignore=shutil.ignore_patterns("logs"))
    return workdir


# -- 1. found: every file of every folder, every damage ------------------------------------------------------


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize(("folder", "name"), CASES)
def test_every_damage_to_every_index_file_is_found_and_named(served_workdir, tmp_path, folder, name, damage):  # noqa: F811
    index_dir = tmp_path / folder
    shutil.copytree(served_workdir / "index" / folder, index_dir)
    assert check_folder(str(index_dir), vectors=folder != "tags") is None
    DAMAGES[damage](index_dir / name)
    found = check_folder(str(index_dir), vectors=folder != "tags")
    assert isinstance(found, DamagedFileError), found
    # A changed CHECKSUMS.json may still parse and then shows as another file's checksum that no longer matches.
    assert found.path == str(index_dir / name) or (name == "CHECKSUMS.json" and found.path.startswith(str(index_dir)))
    assert str(found).endswith(f"repair it with `{REPAIRS[folder]}`.")


# -- 2. repaired by serve's start-up path --------------------------------------------------------------------


def repaired_at_start_up(workdir: Path, folder: str, name: str, damage: str) -> list[str]:
    """Damage one file, run serve's start-up check (build on); returns the sentences it said."""
    DAMAGES[damage](workdir / "index" / folder / name)
    said: list[str] = []
    assert build_missing(ServeConfig(workdir=str(workdir), build=True), say=said.append) == [folder]
    assert check_folder(str(workdir / "index" / folder), vectors=folder != "tags") is None
    return said


@pytest.mark.parametrize(
    ("folder", "name", "damage", "source"),
    [
        ("images", "index.faiss", "cut_short", "from its 12 kept vectors"),
        ("works", "index_choice.json", "older_format", "from its 10 kept vectors"),
        ("images", "posts.parquet", "random_middle", "acg_illustrations embedded by"),
        ("works", "vectors.npy", "wrong_kind", "from acg_text_pairs embedded by"),
        ("tags", "tags.parquet", "zero_bytes", "from the tagger's vocabulary"),
    ],
)
def test_serve_start_up_rebuilds_a_damaged_folder_and_says_so(
    served_workdir,  # noqa: F811
    before,
    tmp_path,
    folder,
    name,
    damage,
    source,
):
    workdir = copy_workdir(served_workdir, tmp_path)
    said = repaired_at_start_up(workdir, folder, name, damage)
    assert len(said) == 1 and said[0].startswith(f"{workdir / 'index' / folder / name} was damaged (")
    assert f": rebuilt the {WHAT[folder]} " in said[0] and source in said[0]
    assert answers(workdir) == before


@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize(("folder", "name"), CASES)
def test_serve_start_up_repairs_every_damage_of_every_file(served_workdir, before, tmp_path, folder, name, damage):  # noqa: F811
    workdir = copy_workdir(served_workdir, tmp_path)
    said = repaired_at_start_up(workdir, folder, name, damage)
    assert len(said) == 1 and "was damaged" in said[0] and f"rebuilt the {WHAT[folder]}" in said[0]
    assert answers(workdir) == before


def test_the_served_app_says_it_is_rebuilding_then_answers_as_before(served_workdir, before, tmp_path, monkeypatch):  # noqa: F811
    """/healthz answers and /readyz says "rebuilding" while the image index is rebuilt (held open here until the
    test has seen it), then the app serves the same neighbours as before."""
    from acg2vec.serving.app import create_app

    workdir = copy_workdir(served_workdir, tmp_path)
    DAMAGES["cut_short"](workdir / "index" / "images" / "index.faiss")
    seen, real = threading.Event(), indexing.reindex_from_vectors

    def held(out_dir: str) -> dict:
        assert seen.wait(60)
        return real(out_dir)

    monkeypatch.setattr(indexing, "reindex_from_vectors", held)
    app = create_app(ServeConfig(workdir=str(workdir), build=True))
    said: list[str] = []
    app.fastapi.state.serving.say = said.append
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while (ready := client.get("/readyz").json())["status"] != "rebuilding":
            assert time.monotonic() < deadline, ready
            time.sleep(0.05)
        assert "rebuilding its image index" in ready["detail"] and client.get("/healthz").status_code == 200
        busy = client.get("/v1/posts/3/similar")
        assert busy.status_code == 503 and "rebuilding its image index" in busy.json()["detail"]
        seen.set()
        deadline = time.monotonic() + 120
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        similar = client.get("/v1/posts/3/similar", params={"k": 4}).json()["results"]
    assert [p["id"] for p in similar] == [i for i, _ in before["images"][2][1:5]]
    assert len(said) == 1 and "rebuilt the image index from its 12 kept vectors" in said[0]


# -- 3. nothing left to rebuild from: serve exits with the sentence -------------------------------------------


def serve_until_it_stops(workdir: Path, *args: str):
    """``acg2vec serve`` in this process; returns once the server stopped by itself (a fatal load). A server that
    does not stop is the failure the tests look for: they time out."""
    result = CliRunner().invoke(cli_app, ["--workdir", str(workdir), "serve", "--port", str(free_port()), *args])
    assert result.exception is not None, result.output
    return result


@pytest.mark.timeout(300)
def test_serve_exits_with_the_sentence_when_the_index_cannot_be_rebuilt(served_workdir, tmp_path):  # noqa: F811
    workdir = copy_workdir(served_workdir, tmp_path)
    DAMAGES["cut_short"](workdir / "index" / "images" / "index.faiss")
    DAMAGES["random_middle"](workdir / "index" / "images" / "vectors.npy")
    shutil.rmtree(workdir / "datasets" / "acg_illustrations")
    result = serve_until_it_stops(workdir)
    err = result.exception
    assert isinstance(err, DamagedFileError) and err.exit_code == 3
    assert str(err) == (
        f"{workdir / 'index' / 'images' / 'index.faiss'} is damaged ({err.problem}); the 12 vectors of the image "
        f"index cannot be served and serve cannot rebuild them (no dataset at "
        f"{workdir / 'datasets' / 'acg_illustrations'}); repair it with `acg2vec index images`."
    )


@pytest.mark.timeout(300)
def test_serve_without_build_stops_on_a_damaged_index_instead_of_serving_part_of_it(served_workdir, tmp_path):  # noqa: F811
    workdir = copy_workdir(served_workdir, tmp_path)
    DAMAGES["zero_bytes"](workdir / "index" / "tags" / "tags.parquet")
    err = serve_until_it_stops(workdir, "--no-build").exception
    assert isinstance(err, DamagedFileError) and err.path == str(workdir / "index" / "tags" / "tags.parquet")
    assert "repair it with `acg2vec index texts`" in str(err)


@pytest.mark.timeout(300)
def test_serve_exits_non_zero_when_a_model_folder_is_damaged(served_workdir, tmp_path):  # noqa: F811
    workdir = copy_workdir(served_workdir, tmp_path)
    model = workdir / "models" / "deepdanbooru"
    DAMAGES["cut_short"](model / "saved_model.pb")
    err = serve_until_it_stops(workdir, "--no-build").exception
    assert isinstance(err, UserError) and err.exit_code != 0, err
    if isinstance(err, DamagedFileError):  # the image model's own check names the file
        assert err.path.startswith(str(model))


# -- 4. acg2vec index re-run, and a full disk while it writes ------------------------------------------------


def test_index_re_run_replaces_a_damaged_folder(served_workdir, before, tmp_path):  # noqa: F811
    workdir = copy_workdir(served_workdir, tmp_path)
    DAMAGES["random_middle"](workdir / "index" / "images" / "thumbnails.bin")
    result = CliRunner().invoke(cli_app, ["--workdir", str(workdir), "index", "images"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert f"replaced the damaged {workdir / 'index' / 'images' / 'thumbnails.bin'}" in result.output
    assert check_folder(str(workdir / "index" / "images")) is None
    assert answers(workdir) == before


def test_a_full_disk_during_index_images_fails_in_one_sentence_and_keeps_the_index(served_workdir, before, tmp_path):  # noqa: F811
    workdir = copy_workdir(served_workdir, tmp_path)
    with SmallDisk(tmp_path / "disk", 8) as disk:
        shutil.copytree(workdir / "index", disk.path / "index")
        shutil.rmtree(workdir / "index")
        (workdir / "index").symlink_to(disk.path / "index")  # the index folders on a small disk
        disk.fill(leave=64 * 1024)
        try:
            result = CliRunner().invoke(cli_app, ["--workdir", str(workdir), "index", "images"])
        finally:
            disk.free()
        err = result.exception
        assert isinstance(err, DiskFullError) and err.exit_code == 4, result.output + repr(err)
        assert str(err).startswith(f"Writing {workdir / 'index' / 'images'}") and "disk is full" in str(err)
        assert ".tmp-" not in str(err)
        assert check_folder(str(workdir / "index" / "images")) is None
        assert not [p.name for p in (disk.path / "index").iterdir() if p.name.startswith(".")]  # no temporary left
        assert answers(workdir) == before


def test_an_index_from_before_checksums_whose_vector_count_is_wrong_is_repaired_as_it_loads(
    served_workdir,  # noqa: F811
    before,
    tmp_path,
):
    """No CHECKSUMS.json to go by: the start-up check passes, the FAISS store finds ``ntotal`` short of the
    recorded count as it loads, and the load repairs the index from the kept vectors and loads again."""
    import faiss

    from acg2vec.serving.app import create_app

    workdir = copy_workdir(served_workdir, tmp_path)
    folder = workdir / "index" / "images"
    (folder / "CHECKSUMS.json").unlink()  # a folder written before checksums were recorded
    meta = json.loads((folder / "meta.json").read_text())
    del meta["checksums"]
    (folder / "meta.json").write_text(json.dumps(meta))
    short = faiss.read_index(str(folder / "index.faiss"))
    short.remove_ids(np.arange(6, dtype=np.int64))
    faiss.write_index(short, str(folder / "index.faiss"))  # a readable index of 6 vectors where 12 were written
    assert check_folder(str(folder)) is None
    app = create_app(ServeConfig(workdir=str(workdir), build=True))
    said: list[str] = []
    app.fastapi.state.serving.say = said.append
    with TestClient(app) as client:
        deadline = time.monotonic() + 120
        while (ready := client.get("/readyz")).status_code != 200:
            assert ready.json()["status"] != "failed", ready.json()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        similar = client.get("/v1/posts/3/similar", params={"k": 4}).json()["results"]
    assert [p["id"] for p in similar] == [i for i, _ in before["images"][2][1:5]]
    assert len(said) == 1 and "(it holds 6 vectors where 12 were written)" in said[0]
    assert "rebuilt the image index from its 12 kept vectors" in said[0]
