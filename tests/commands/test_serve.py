"""``acg2vec serve`` as a user starts it: binding rules, missing indexes built, every endpoint answered.

The fast test serves the tiny workdir; the slow one runs ``acg2vec demo`` first and serves its outputs with
the FAISS and the Milvus (milvus-lite) store.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from acg2vec.commands.serve import check_binding, is_loopback
from acg2vec.errors import UserError
from tests.evaluation.fakes import colour_image, jpeg_bytes
from tests.serving.fakes import served_workdir  # noqa: F401 -- fixture
from tests.serving.server import free_port

pytestmark = pytest.mark.integration


def test_binding_beyond_loopback_needs_a_key_or_an_explicit_choice():
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(host)
        check_binding(host, None, False)
    with pytest.raises(UserError, match="--api-key KEY .* or --insecure-no-auth"):
        check_binding("0.0.0.0", None, False)
    check_binding("0.0.0.0", "k3y", False)
    check_binding("192.168.1.20", None, True)


def test_serve_on_another_address_without_a_key_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "acg2vec.cli", "--workdir", str(tmp_path), "serve", "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--insecure-no-auth" in result.stderr and "Traceback" not in result.stderr


@contextlib.contextmanager
def serving(workdir: Path, *args: str, timeout: float = 600):
    port = free_port()
    log = open(workdir.parent / f"serve-{port}.log", "w")  # noqa: SIM115 -- closed below
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}  # serve's own default is checked
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    command = [sys.executable, "-m", "acg2vec.cli", "--workdir", str(workdir), "serve", "--port", str(port), *args]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, (workdir.parent / f"serve-{port}.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "serve did not become ready"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + "/readyz", timeout=5).status_code == 200:
                    break
            time.sleep(0.5)
        yield base, (workdir.parent / f"serve-{port}.log")
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def query_every_endpoint(base: str, *, image: bytes, title: str, headers: dict | None = None) -> dict:
    """One request to every endpoint; returns the answers by endpoint after checking their shape."""
    with httpx.Client(base_url=base, headers=headers or {}, timeout=60) as client:
        out = {"healthz": client.get("/healthz").json(), "readyz": client.get("/readyz").json()}
        assert out["readyz"]["missing"] == [], out["readyz"]
        assert "<title>acg2vec search</title>" in client.get("/").text
        assert client.get("/docs").status_code == 200
        files = {"file": ("upload.jpg", image, "image/jpeg")}
        out["tags"] = client.post("/v1/tags", files=files).raise_for_status().json()
        out["tags_b64"] = (
            client.post("/v1/tags?top_k=5", json={"image_base64": base64.b64encode(image).decode()})
            .raise_for_status()
            .json()
        )
        assert len(out["tags_b64"]["tags"]) == 5
        out["illust2vec"] = client.post("/v1/illust2vec", files=files).raise_for_status().json()
        out["similar"] = client.post("/v1/similar?k=5", files=files).raise_for_status().json()
        assert len(out["similar"]["results"]) == 5
        post_id = out["similar"]["results"][0]["id"]
        out["post"] = client.get(f"/v1/posts/{post_id}").raise_for_status().json()
        thumb = client.get(out["post"]["thumbnail_url"]).raise_for_status()
        assert thumb.content[:2] == b"\xff\xd8"
        out["post_similar"] = client.get(f"/v1/posts/{post_id}/similar", params={"k": 3}).raise_for_status().json()
        assert post_id not in [p["id"] for p in out["post_similar"]["results"]]
        out["text"] = client.post("/v1/text/embed", json={"texts": [title, "x"]}).raise_for_status().json()
        out["works"] = client.get("/v1/works/search", params={"q": title, "k": 5}).raise_for_status().json()
        prefix = out["tags"]["tags"][0]["name"][:2] if out["tags"]["tags"] else "a"
        out["complete"] = client.get("/v1/tags/complete", params={"prefix": prefix}).raise_for_status().json()
        assert out["complete"]["results"]
        metrics = client.get("/metrics").text
        assert 'route="/v1/tags",status="200"' in metrics and "acg2vec_model_batch_size_bucket" in metrics
    return out


def test_serve_builds_missing_indexes_and_answers_every_endpoint(served_workdir, tmp_path):  # noqa: F811
    workdir = tmp_path / "acg2vec-data"
    shutil.copytree(served_workdir, workdir, ignore=shutil.ignore_patterns("index", "logs"))
    key = {"X-API-Key": "k3y"}
    with serving(workdir, "--host", "0.0.0.0", "--api-key", "k3y") as (base, log):
        assert httpx.get(base + "/v1/posts/1").status_code == 401  # the key is required beyond loopback
        out = query_every_endpoint(base, image=jpeg_bytes(colour_image("blue", 3)), title="鋼の錬金術師", headers=key)
    assert "built the images, works, tags index(es)" in log.read_text()
    assert out["readyz"]["omp_wait_policy"] == "PASSIVE"  # set before torch loaded: its threads sleep between batches
    assert {t["name"] for t in out["tags"]["tags"]} == {"blue", "sample_series"}
    assert out["works"]["results"][0]["titles"]["en"] == "Fullmetal Alchemist"
    assert all(p["tags"][0] == "blue" for p in out["similar"]["results"][:4])


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the demo alone may take its full 900 s on a busy machine, then two servers load
def test_serve_the_demo_outputs_with_both_vector_stores(tmp_path):
    """The demo's workdir, served as the demo's last line says, answers every endpoint with FAISS and Milvus."""
    from tests.test_demo import _run_demo

    workdir = tmp_path / "acg2vec-data"
    demo = _run_demo(workdir)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert f"Serve: acg2vec --workdir {workdir} serve" in demo.stdout.replace("\n", "")
    image = next((workdir / "raw" / "safebooru" / "files").rglob("*.*")).read_bytes()
    import pyarrow.parquet as pq

    pairs = pq.read_table(next((workdir / "datasets" / "parquet" / "acg_text_pairs").rglob("*.parquet"))).to_pylist()
    title = next(p["anchor"] for p in pairs if p["pair_type"] == "title_ja-title_zh")
    answers = {}
    for backend in ("faiss", "milvus"):
        args = ["--vectors", "milvus", "--milvus-uri", str(tmp_path / "milvus.db")] if backend == "milvus" else []
        with serving(workdir, *args) as (base, _):
            answers[backend] = query_every_endpoint(base, image=image, title=title)
    for backend, out in answers.items():
        assert out["tags"]["model"] == "deepdanbooru" and out["illust2vec"]["model"] == "illust2vec"
        assert out["tags"]["rating"] is not None and out["tags"]["rating"]["model"] == "deepix"
        assert out["works"]["results"][0]["matched"] == title, (backend, out["works"])
        assert out["similar"]["backend"] == backend
    faiss_ids = [p["id"] for p in answers["faiss"]["similar"]["results"]]
    milvus_ids = [p["id"] for p in answers["milvus"]["similar"]["results"]]
    assert len(set(faiss_ids) & set(milvus_ids)) >= 4  # the same neighbours within ANN tolerance
