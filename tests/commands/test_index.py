"""``acg2vec index images|texts`` on a tiny workdir: the folders ``serve`` reads, FAISS and Milvus."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from acg2vec.cli import app
from tests.serving.fakes import served_workdir  # noqa: F401 -- fixture

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh(served_workdir, tmp_path):  # noqa: F811
    """A copy of the served workdir without its indexes."""
    workdir = tmp_path / "acg2vec-data"
    shutil.copytree(served_workdir, workdir, ignore=shutil.ignore_patterns("index", "logs"))
    return workdir


def run(workdir, *args: str):
    result = CliRunner().invoke(app, ["--workdir", str(workdir), *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_index_images_writes_the_folder_serve_reads(fresh):
    import pyarrow.parquet as pq

    out = run(fresh, "index", "images")
    assert "indexed 12 of 12 posts with deepdanbooru (Flat, dimension 3)" in out
    folder = fresh / "index" / "images"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["count"] == 12 and meta["kind"] == "images" and meta["dropped"] == {}
    assert meta["posts"] == meta["count"] + sum(meta["dropped"].values())  # read = written + dropped
    assert not (folder / "dead_letters").exists()  # nothing dropped: no dead_letters/index-images.jsonl.gz
    ids = np.load(folder / "ids.npy")
    assert sorted(ids.tolist()) == list(range(1, 13))
    assert np.linalg.norm(np.load(folder / "vectors.npy"), axis=1) == pytest.approx(np.ones(12), abs=1e-5)
    posts = pq.read_table(folder / "posts.parquet").to_pylist()
    blob = (folder / "thumbnails.bin").read_bytes()
    first = posts[0]
    assert blob[first["thumb_offset"] : first["thumb_offset"] + 2] == b"\xff\xd8"  # the dataset's own JPEG
    assert (folder / "index.faiss").is_file() and (folder / "index_choice.json").is_file()


def test_index_texts_writes_works_and_tags(fresh):
    import pyarrow.parquet as pq

    out = run(fresh, "index", "texts")
    assert "indexed 10 titles of 3 works" in out and "7 tags for autocomplete" in out
    works = pq.read_table(fresh / "index" / "works" / "works.parquet").to_pylist()
    steel = next(w for w in works if w["entity_id"] == "bangumi:2")
    assert json.loads(steel["titles"]) == {"ja": "鋼の錬金術師", "zh": "钢之炼金术师", "en": "Fullmetal Alchemist"}
    assert steel["aliases"] == ["ハガレン"]
    assert "person:1" not in {w["entity_id"] for w in works}  # voice actors are not works
    tags = {t["name"]: t for t in pq.read_table(fresh / "index" / "tags" / "tags.parquet").to_pylist()}
    assert set(tags) == {"red", "green", "blue", "monochrome", "sample_series", "初音ミク", "猫耳"}
    assert json.loads(tags["猫耳"]["translations"]) == {"zh": ["猫耳朵"]}


def test_index_into_milvus(fresh, tmp_path):
    from pymilvus import MilvusClient

    uri = str(tmp_path / "milvus.db")
    out = run(fresh, "index", "images", "--vectors", "milvus", "--milvus-uri", uri)
    assert f"Milvus collection acg2vec_images at {uri}" in out
    client = MilvusClient(uri)
    try:
        assert client.get_collection_stats("acg2vec_images")["row_count"] == 12
    finally:
        client.close()


def test_index_without_a_model_is_one_sentence(tmp_path):
    from acg2vec.errors import UserError

    result = CliRunner().invoke(app, ["--workdir", str(tmp_path / "empty"), "index", "images"])
    assert result.exit_code != 0 and isinstance(result.exception, UserError)
    assert "no image model under" in str(result.exception)
