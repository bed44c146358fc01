"""The deployment files agree with acg2vec and with each other: the Containerfile's and compose.yaml's commands
are valid acg2vec command lines, every Milvus service has a health check that gates what depends on it, and the
Milvus server in compose is the version the server test runs (tests/serving/test_milvus_server.py).

These read the files only (well under a second); tests/deploy/test_container.py builds and runs the image.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import typer.main
import yaml

from acg2vec.cli import app

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def parses(argv: list[str]) -> None:
    """Fail unless ``acg2vec <argv>`` is a valid command line (parsed, not run)."""
    command = typer.main.get_command(app)
    ctx = command.make_context("acg2vec", list(argv))
    while hasattr(command, "resolve_command"):  # a group: the sub-command named next parses the rest
        name, command, rest = command.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        ctx = command.make_context(name, rest, parent=ctx)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def containerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of each Containerfile line, continuations joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Containerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1]) for line in lines]


def test_containerfile_is_multi_stage_non_root_with_its_base_an_argument(containerfile):
    froms = [args for inst, args in containerfile if inst == "FROM"]
    assert containerfile[0] == ("ARG", "BASE_IMAGE=python:3.11-slim")
    # Every stage starts from the base image or from an earlier stage.
    stages = set()
    for args in froms:
        image, _, name = args.partition(" AS ")
        assert image == "${BASE_IMAGE}" or image in stages, args
        stages.add(name.strip())
    assert len(froms) >= 2 and froms[-1] == "${BASE_IMAGE}"
    final = containerfile[max(i for i, (inst, _) in enumerate(containerfile) if inst == "FROM") :]
    users = [args for inst, args in final if inst == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(inst == "COPY" and args.startswith("--from=build") for inst, args in final)


def test_containerfile_entry_point_command_and_health_check(containerfile):
    values = {inst: args for inst, args in containerfile}
    assert json.loads(values["ENTRYPOINT"]) == ["acg2vec"]
    command = json.loads(values["CMD"])
    parses(command)
    port = command[command.index("--port") + 1]
    assert values["EXPOSE"] == port
    assert f"http://127.0.0.1:{port}/readyz" in values["HEALTHCHECK"]
    # The environment is the lock: torch exactly pinned first, everything under constraints.txt.
    runs = " ".join(args for inst, args in containerfile if inst == "RUN")
    assert "-c constraints.txt torch==2.13.0" in runs and "-c constraints.txt ." in runs


def test_compose_runs_milvus_as_its_own_images_do(compose):
    services = compose["services"]
    for name in ("etcd", "minio", "milvus"):
        assert services[name]["healthcheck"]["test"], name
    assert services["milvus"]["command"] == ["milvus", "run", "standalone"]
    env = services["milvus"]["environment"]
    assert env["ETCD_ENDPOINTS"] == "etcd:2379" and env["MINIO_ADDRESS"] == "minio:9000"
    assert {k: v["condition"] for k, v in services["milvus"]["depends_on"].items()} == {
        "etcd": "service_healthy",
        "minio": "service_healthy",
    }
    # The server version the tests run against (the `milvus` package's standalone build).
    milvus = pytest.importorskip("milvus")
    assert services["milvus"]["image"].endswith(f":${{MILVUS_VERSION:-v{milvus.__version__}}}")


def test_compose_serves_the_workdir_volume_over_milvus(compose):
    serve = compose["services"]["serve"]
    parses(serve["command"])
    uri = serve["command"][serve["command"].index("--milvus-uri") + 1]
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", uri).groups()
    assert host in compose["services"] and port == "19530"
    assert serve["depends_on"][host]["condition"] == "service_healthy"
    assert "acg2vec-data:/data" in serve["volumes"] and "acg2vec-data" in compose["volumes"]
    assert serve["environment"]["ACG2VEC_HOME"] == "/data"
    assert "ACG2VEC_API_KEY" in serve["environment"]  # it binds 0.0.0.0: a key, or serve refuses to start


def test_compose_job_profile_runs_one_off_commands(compose):
    job = compose["services"]["job"]
    assert job["profiles"] == ["jobs"] and job["restart"] == "no"
    assert "acg2vec-data:/data" in job["volumes"]
    parses(job["command"])
    # The commands the file's header shows all parse.
    header = (ROOT / "compose.yaml").read_text(encoding="utf-8").split("\n\n")[0]
    shown = re.findall(r"run --rm job ?(.*)", header)
    assert len(shown) >= 3
    for line in shown:
        parses(shlex.split(line.split("#")[0]) or job["command"])
