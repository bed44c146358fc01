"""The foundation: CLI wiring, workspace resolution, offline guard, items contract, dead letters."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import urllib.request

import pytest
from typer.testing import CliRunner

from acg2vec.cli import app
from acg2vec.crawlers.items import ItemError, Post, Work, item_from_dict, item_to_dict, normalize_rating
from acg2vec.deadletter import DeadLetters
from acg2vec.workspace import Workspace

pytestmark = pytest.mark.unit
runner = CliRunner()


def test_help_lists_every_stage():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for stage in ("crawl", "build", "train", "eval", "predict", "embed", "demo"):
        assert stage in result.output


@pytest.mark.parametrize("group", ["crawl", "build", "train", "eval"])
def test_each_group_has_a_real_help(group):
    result = runner.invoke(app, [group, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    assert "Commands" in result.output


def test_workdir_option_env_and_default(tmp_path, monkeypatch):
    monkeypatch.delenv("ACG2VEC_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Workspace.at(None).root == str(tmp_path / "acg2vec-data")
    monkeypatch.setenv("ACG2VEC_HOME", str(tmp_path / "home"))
    assert Workspace.at(None).root == str(tmp_path / "home")
    assert Workspace.at(tmp_path / "x").raw("safebooru") == str(tmp_path / "x" / "raw" / "safebooru")
    assert Workspace.at("gs://bucket/ws").datasets() == "gs://bucket/ws/datasets"


def _acg2vec(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "acg2vec.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_user_error_is_one_line_and_nonzero(workdir):
    # A missing required option is a usage error from typer: non-zero, no traceback.
    proc = _acg2vec("--workdir", str(workdir), "crawl", "pixiv")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "Missing option" in proc.stderr and "--from" in proc.stderr


def test_a_workdir_that_is_a_file_is_one_sentence_through_main(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    proc = _acg2vec("--workdir", str(a_file), "eval", "texts")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1
    assert lines[0].startswith("acg2vec: The workdir") and "is a file, not a folder" in lines[0]


def test_help_and_version_write_nothing(tmp_path):
    for args in (["--help"], ["--version"], ["eval", "--help"], ["crawl", "safebooru", "--help"], ["build"]):
        proc = _acg2vec("--workdir", str(tmp_path / "ws"), *args, cwd=tmp_path)
        assert "Traceback" not in proc.stderr, args
    proc = _acg2vec("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "help or version created files"


def test_log_file_records_the_command_and_the_mistake(workdir):
    proc = _acg2vec("--workdir", str(workdir), "eval", "texts")
    assert proc.returncode == 2
    (log_file,) = (workdir / "logs").glob("acg2vec-*.log")
    text = log_file.read_text()
    assert "eval texts" in text  # the command line
    assert "run `acg2vec build texts` first" in text  # the user's mistake, as the console said it


def test_internet_is_blocked_but_loopback_works(local_http_server, tmp_path):
    with pytest.raises(RuntimeError, match="offline"):
        socket.create_connection(("93.184.216.34", 80), timeout=1)
    (tmp_path / "hello.txt").write_text("hi")
    base = local_http_server(directory=tmp_path)
    assert urllib.request.urlopen(f"{base}/hello.txt", timeout=5).read() == b"hi"


def test_item_round_trip_and_validation():
    post = Post(source="safebooru", source_id="7", id=7, tags=["1girl", "solo"], rating="general", score=None)
    data = json.loads(json.dumps(item_to_dict(post)))
    assert data["kind"] == "post"
    assert item_from_dict(data) == post
    data["id"] = "8"  # numeric strings are accepted for ints
    assert item_from_dict(data).id == 8
    with pytest.raises(ItemError) as err:
        item_from_dict({**data, "tags": "1girl solo"})
    assert err.value.reason == "wrong-type"
    with pytest.raises(ItemError) as err:
        item_from_dict({"kind": "post", "source": "safebooru", "source_id": "1"})
    assert err.value.reason == "missing-field"
    with pytest.raises(ItemError) as err:
        item_from_dict({"kind": "spaceship"})
    assert err.value.reason == "unknown-kind"
    work = item_from_dict(
        {"kind": "work", "source": "bangumi", "source_id": "1", "titles": {"ja": "x"}, "aliases": None}
    )
    assert isinstance(work, Work) and work.aliases == []


def test_ratings_words_and_letters():
    assert normalize_rating("General") == "general"
    assert normalize_rating("q") == "questionable"
    assert normalize_rating("s") == "sensitive"
    assert normalize_rating("s", legacy_letters=True) == "general"
    assert normalize_rating("safe") == "general"
    assert normalize_rating("weird") is None
    assert normalize_rating(None) is None


def test_dead_letters_count_and_write(tmp_path):
    path = tmp_path / "dead" / "rejects.jsonl.gz"
    with DeadLetters(path) as dead:
        dead.add("bad-json", b"{oops", detail="line 3")
        dead.add("bad-json", "x")
        dead.add("too-small", {"id": 1})
    assert dead.counts == {"bad-json": 2, "too-small": 1}
    assert dead.total == 3
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh]
    assert [line["reason"] for line in lines] == ["bad-json", "bad-json", "too-small"]
    assert lines[0]["detail"] == "line 3"
