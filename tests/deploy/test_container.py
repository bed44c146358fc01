"""The container image for real: built with podman from the Containerfile, started on a tiny served workdir, asked
from the host for ``/readyz`` and ``/v1/tags``.

Slow: ``make container`` (scripts/container-build.sh) runs first; with its layers cached it only reinstalls the
acg2vec source (about a minute), from nothing it installs the whole lock (tens of minutes, see docs/deploy.md).
Needs podman, runc and mmdebstrap (Debian packages), and root for podman here; skipped with a reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.evaluation.fakes import colour_image, jpeg_bytes
from tests.serving.fakes import served_workdir  # noqa: F401 -- fixture
from tests.serving.server import free_port

# The timeout covers a first build of the whole lock (the fixture); a cached one takes minutes.
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(3 * 3600)]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("ACG2VEC_TEST_IMAGE", "localhost/acg2vec:latest")
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
# runc cannot raise a limit above the caller's hard limit; 4096 processes is plenty for serve.
ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
API_KEY = "container-test-key"


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture(scope="module")
def image() -> str:
    for tool in ("podman", "runc", "mmdebstrap"):
        if shutil.which(tool) is None:
            pytest.skip(f"missing system package: `{tool}` is not on PATH (apt-get install podman runc mmdebstrap)")
    if os.geteuid() != 0:
        pytest.skip("the container test runs podman as root (rootless podman needs subuid ranges set up)")
    build = subprocess.run(
        ["bash", "scripts/container-build.sh"],
        cwd=ROOT,
        env={**os.environ, "IMAGE": IMAGE},
        capture_output=True,
        text=True,
        timeout=3 * 3600 - 600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return IMAGE


@pytest.fixture
def container(image, served_workdir, tmp_path):  # noqa: F811
    """The image's default command (serve on 0.0.0.0:8000 with an API key) on a copy of the tiny workdir."""
    import httpx

    workdir = tmp_path / "acg2vec-data"
    shutil.copytree(served_workdir, workdir)
    for path in (tmp_path, *workdir.rglob("*")):
        path.chmod(0o777 if path.is_dir() else 0o666)  # the image's user (uid 10001) writes logs there
    workdir.chmod(0o777)
    name = f"acg2vec-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    podman("run", "--detach", "--name", name, *ULIMITS, "--publish", f"127.0.0.1:{port}:8000",
           "--volume", f"{workdir}:/data", "--env", f"ACG2VEC_API_KEY={API_KEY}", image)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        ready = None
        while time.monotonic() < deadline:
            state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            assert state == "running", podman("logs", name, check=False).stderr[-3000:]
            try:
                ready = httpx.get(f"{url}/readyz", timeout=5)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        assert ready is not None and ready.status_code == 200, podman("logs", name, check=False).stderr[-3000:]
        yield name, url, ready.json()
    finally:
        podman("rm", "--force", name, check=False)


def test_the_image_serves_the_workdir_to_the_host(container):
    import httpx

    name, url, ready = container
    assert ready["status"] == "ready" and ready["missing"] == [] and ready["images"] == {"count": 12, "dim": 3}
    # The image's HEALTHCHECK (podman runs it on demand here: no systemd timers under cgroupfs).
    assert podman("healthcheck", "run", name, check=False).returncode == 0
    assert podman("exec", name, "id", "-u").stdout.strip() == "10001"  # not root
    image = {"file": ("red.jpg", jpeg_bytes(colour_image("red", 99)), "image/jpeg")}
    assert httpx.post(f"{url}/v1/tags", files=image, timeout=30).status_code == 401  # bound beyond loopback: a key
    answer = httpx.post(f"{url}/v1/tags", files=image, headers={"X-API-Key": API_KEY}, timeout=30).json()
    assert {t["name"] for t in answer["tags"]} == {"red", "sample_series"}


def test_a_mistake_in_the_container_is_one_sentence(image):
    # No API key while binding 0.0.0.0 (the image's default command): one sentence, non-zero exit, no traceback.
    run = podman("run", "--rm", *ULIMITS, image, check=False, timeout=300)
    assert run.returncode != 0
    assert "--api-key" in run.stderr and "Traceback" not in run.stderr
