"""What ``serve`` finds, builds and loads in a workdir (``serving/services.py``), on the tiny served workdir."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from acg2vec.serving.services import ServeConfig, Services, WorkQuery, build_missing, load_services
from tests.evaluation.fakes import colour_image, jpeg_bytes
from tests.serving.fakes import served_workdir  # noqa: F401 -- fixture

pytestmark = pytest.mark.integration


@pytest.fixture
def copied(served_workdir, tmp_path):  # noqa: F811
    """A copy of the served workdir, indexes included, that a test may change."""
    workdir = tmp_path / "acg2vec-data"
    shutil.copytree(served_workdir, workdir, ignore=shutil.ignore_patterns("logs"))
    return workdir


@pytest.fixture(scope="module")
def services(served_workdir):  # noqa: F811
    loaded = load_services(ServeConfig(workdir=str(served_workdir)))
    yield loaded
    loaded.close()


def test_models_are_found_in_the_workspace_or_where_given(served_workdir, tmp_path):  # noqa: F811
    config = ServeConfig(workdir=str(served_workdir))
    assert config.models == str(served_workdir / "models")
    assert config.tagger_path() == config.embedder_path() == str(served_workdir / "models" / "deepdanbooru")
    assert config.text_path() == str(served_workdir / "models" / "acgvoc2vec")
    elsewhere = ServeConfig(workdir=str(served_workdir), models_dir=str(tmp_path))
    assert elsewhere.models == str(tmp_path)
    assert elsewhere.tagger_path() is elsewhere.embedder_path() is elsewhere.text_path() is None
    named = ServeConfig(workdir=str(tmp_path), tagger="/models/mine")
    assert named.tagger_path() == "/models/mine" and named.workspace.index("works") == str(
        tmp_path / "index" / "works"
    )


def test_only_missing_or_stale_indexes_are_built(copied):
    config = ServeConfig(workdir=str(copied))
    assert build_missing(config) == []  # all three were built with these models
    text_model = copied / "models" / "acgvoc2vec"
    newest = max(os.path.getmtime(text_model / name) for name in os.listdir(text_model))
    os.utime(text_model / "modules.json", (newest + 100, newest + 100))  # the text model was trained again
    assert build_missing(config) == ["works"]
    shutil.rmtree(copied / "index" / "tags")
    assert build_missing(config) == ["tags"]
    assert (copied / "index" / "tags" / "tags.parquet").is_file()


def test_nothing_to_index_builds_nothing(tmp_path):
    assert build_missing(ServeConfig(workdir=str(tmp_path))) == []
    assert not (tmp_path / "index").exists()


def test_a_full_workdir_loads_every_part(services, served_workdir):  # noqa: F811
    assert services.missing == []
    # The colour tagger is also the embedder: one model loaded once. It has no rating head, and no deepix either.
    assert services.embedder is services.tagger and services.rater is None
    status = services.status()
    assert status["tagger"] == str(served_workdir / "models" / "deepdanbooru")
    assert status["images"] == {"count": 12, "dim": 3} and status["tags"] == len(services.tags)
    assert status["works"] == {"count": 3, "titles": services.work_store.count}
    assert status["scorers"] == ["hybrid", "dense", "lexical"] and status["vectors"] == "faiss"
    assert status["batching"] == {"enabled": True, "max_batch": 16, "max_wait_ms": 5.0}


def test_the_batched_calls_answer_one_item_each(services):
    images = [jpeg_bytes(colour_image(colour, 3)) for colour in ("red", "blue")]
    (red_probs, red_rating), (blue_probs, _) = services._tag_batch(images)
    assert red_rating is None and red_probs.shape == (5,)
    assert np.argmax(red_probs[:3]) == 0 and np.argmax(blue_probs[:3]) == 2  # red, green, blue tags first
    red, blue = services._embed_batch(images)
    assert red.shape == (3,) and red[0] > red[2] and blue[2] > blue[0]  # the embedding is the mean colour
    plain, search = services._text_batch(["鋼の錬金術師", WorkQuery("鋼の錬金術師", 1, "lexical")])
    assert len(plain) == 2 and len(search) == 3
    np.testing.assert_allclose(plain[0], search[0], atol=1e-6)
    assert search[2][0]["entity_id"] == "bangumi:2"


def test_one_batcher_per_loaded_model(services):
    batchers = services.make_batchers()
    try:
        assert sorted(batchers) == ["embed", "tags", "text"]
    finally:
        for batcher in batchers.values():
            batcher.close()
    text_only = Services(services.config, text=services.text)
    batchers = text_only.make_batchers()
    try:
        assert sorted(batchers) == ["text"]
    finally:
        for batcher in batchers.values():
            batcher.close()


def test_what_is_missing_is_named_and_the_rest_is_loaded(served_workdir, tmp_path):  # noqa: F811
    workdir = tmp_path / "acg2vec-data"
    for part in ("models/acgvoc2vec", "index/works"):
        shutil.copytree(served_workdir / part, workdir / part)
    loaded = load_services(ServeConfig(workdir=str(workdir)))
    try:
        missing = " ".join(loaded.missing)
        for words in ("no tagger under", "no image embedder under", "no image index at", "no tag list at"):
            assert words in missing, missing
        assert "acgvoc2vec" not in missing and "work index" not in missing
        assert loaded.tagger is loaded.embedder is loaded.image_store is loaded.tags is None
        assert loaded.work_search is not None and loaded.status()["images"] is None
    finally:
        loaded.close()
