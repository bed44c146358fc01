"""``acg2vec index`` and ``acg2vec serve`` against a real Milvus standalone server over the network.

The ``milvus`` package (the dev extra) ships Milvus 2.3.5 standalone: the server binary with its embedded etcd and
local storage. The module starts one in a temporary folder on free ports (about 10 s on a quiet machine), loads
the tiny served workdir's indexes into it the way ``acg2vec index ... --vectors milvus`` does, and checks that the
server answers what FAISS answers: the same top ids for an exact (``Flat`` / ``FLAT``) index. The server start
and the exact-index comparison run in ``make test``; the ``index`` and ``serve`` round trip on the workdir is slow.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from acg2vec.serving.indexing import write_vectors
from acg2vec.serving.stores import open_store
from acg2vec.serving.stores.base import unit_rows
from tests.serving.fakes import WORKS, served_workdir  # noqa: F401 -- fixture
from tests.serving.server import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def milvus_uri(tmp_path_factory) -> str:
    """A Milvus standalone server for the module; its URI (``http://127.0.0.1:<port>``)."""
    milvus = pytest.importorskip("milvus", reason="the Milvus server comes with the dev extra (milvus==2.3.5)")
    data = tmp_path_factory.mktemp("milvus-server")
    config = milvus.MilvusServerConfig()
    # Every port the server listens on, chosen free here (its own probing starts at fixed numbers).
    ports = {key: free_port() for key in config.configurable_items if key.endswith("_port")}
    server = milvus.MilvusServer(config, data_dir=str(data), **ports)
    server.webservice_port = free_port()
    try:
        server.start()
    except (RuntimeError, TimeoutError) as err:
        server.stop()
        log = data / "logs" / "milvus-stdout.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        pytest.fail(f"Milvus standalone did not start: {err}\n{tail}")
    yield f"http://127.0.0.1:{server.listen_port}"
    server.stop()


@pytest.fixture(scope="module")
def workdir(served_workdir, tmp_path_factory) -> Path:  # noqa: F811
    """A copy of the tiny served workdir (its indexes built as ``serve`` and the demo build them)."""
    copy = tmp_path_factory.mktemp("milvus-workdir") / "acg2vec-data"
    shutil.copytree(served_workdir, copy)
    return copy


def test_the_client_speaks_to_the_server(milvus_uri):
    from pymilvus import MilvusClient

    client = MilvusClient(uri=milvus_uri)
    assert client.get_server_version().startswith("v2.3.")
    client.close()


@pytest.mark.slow  # re-embeds the tiny workdir twice: ~15 s on top of the served workdir
def test_index_commands_load_the_vectors_into_the_server(workdir, milvus_uri):
    from pymilvus import MilvusClient
    from typer.testing import CliRunner

    from acg2vec.cli import app

    runner = CliRunner()
    for kind, folder in (("images", "images"), ("texts", "works")):
        result = runner.invoke(
            app, ["--workdir", str(workdir), "index", kind, "--vectors", "milvus", "--milvus-uri", milvus_uri]
        )
        assert result.exit_code == 0, result.output
        assert f"Milvus collection acg2vec_{folder} at {milvus_uri}" in result.output
    client = MilvusClient(uri=milvus_uri)
    for folder, count in (("images", 12), ("works", None)):
        name = f"acg2vec_{folder}"
        rows = client.get_collection_stats(name)["row_count"]
        assert rows == (count or open_store(str(workdir / "index" / folder)).count)
        # The folders are small, FAISS chose Flat for them: the server holds an exact FLAT index too.
        assert client.describe_index(name, "vector")["index_type"] == "FLAT"
    client.close()


def _answers(get) -> tuple[tuple[list, list], str]:
    """Similar posts and dense work-search ids the server behind ``get`` gives once ready, and its vector store."""
    deadline = time.monotonic() + 300
    while (ready := get("/readyz")).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.2)  # the models and stores load in the background
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    similar = [get(f"/v1/posts/{post}/similar?k=5").json() for post in (1, 5, 9)]
    works = [get(f"/v1/works/search?k=3&scorer=dense&q={ja}").json() for _, ja, _, _ in WORKS]
    return (
        [[hit["id"] for hit in answer["results"]] for answer in similar],
        [[hit["entity_id"] for hit in answer["results"]] for answer in works],
    ), ready.json()["vectors"]


@pytest.mark.slow  # needs the index commands' collections; starts `acg2vec serve` in a process (~30 s)
def test_the_serve_command_answers_from_the_server_as_from_faiss(workdir, milvus_uri):
    import subprocess
    import sys

    import httpx
    from fastapi.testclient import TestClient

    from acg2vec.serving.app import create_app
    from acg2vec.serving.services import ServeConfig

    with TestClient(create_app(ServeConfig(workdir=str(workdir)))) as client:
        faiss, vectors = _answers(client.get)
    assert vectors == "faiss"
    port = free_port()
    command = [sys.executable, "-m", "acg2vec.cli", "--workdir", str(workdir), "serve", "--port", str(port),
               "--no-build", "--vectors", "milvus", "--milvus-uri", milvus_uri]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, server.stderr.read()[-3000:]
            try:
                httpx.get(f"{base}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.5)
        milvus, vectors = _answers(lambda path: httpx.get(base + path, timeout=30))
    finally:
        server.terminate()
        server.wait(30)
    assert vectors == "milvus"
    assert milvus == faiss
    assert all(len(ids) == 5 for ids in milvus[0])
    assert [ids[0] for ids in milvus[1]] == [entity for entity, *_ in WORKS]


def test_an_exact_index_returns_the_same_top_ids_as_faiss(tmp_path, milvus_uri):
    rng = np.random.default_rng(11)
    vectors = unit_rows(rng.normal(size=(3000, 48)))
    ids = np.arange(3000, dtype=np.int64) * 3 + 17
    folder = tmp_path / "exact-test"
    meta = write_vectors(str(folder), ids, vectors, {"kind": "images"}, memory_budget=None)
    assert meta["factory"] == "Flat"
    queries = unit_rows(rng.normal(size=(40, 48)))
    faiss_store = open_store(str(folder))
    milvus_store = open_store(str(folder), backend="milvus", milvus_uri=milvus_uri)
    try:
        faiss_hits, milvus_hits = faiss_store.search(queries, 10), milvus_store.search(queries, 10)
        assert [[h.id for h in row] for row in milvus_hits] == [[h.id for h in row] for row in faiss_hits]
        for faiss_row, milvus_row in zip(faiss_hits, milvus_hits, strict=True):
            assert [h.score for h in milvus_row] == pytest.approx([h.score for h in faiss_row], abs=1e-4)
        assert milvus_store.vector(int(ids[7])) == pytest.approx(vectors[7], abs=1e-6)
        # Filters fetch deeper on the server as they do in FAISS.
        wanted = set(ids[::40].tolist())
        kept = milvus_store.search(queries[:3], 5, keep=wanted.__contains__)
        assert [[h.id for h in row] for row in kept] == [
            [h.id for h in row] for row in faiss_store.search(queries[:3], 5, keep=wanted.__contains__)
        ]
    finally:
        milvus_store.close()


def test_an_unreachable_server_is_one_sentence(tmp_path):
    from acg2vec.errors import UserError

    folder = tmp_path / "tiny"
    write_vectors(str(folder), np.arange(3), np.eye(3), {"kind": "images"}, memory_budget=None)
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UserError, match=f"cannot connect to Milvus at {uri}"):
        open_store(str(folder), backend="milvus", milvus_uri=uri)
