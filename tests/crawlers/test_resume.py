"""Stop a crawl half-way (SIGTERM, like Ctrl-C) and resume it from its JOBDIR: no post duplicated or lost."""

from __future__ import annotations

import gzip
import importlib.util
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from acg2vec.crawlers.runner import RUNNING_MARKER, run_spider, start_spider
from acg2vec.workspace import Workspace

pytestmark = pytest.mark.integration

_spec = importlib.util.spec_from_file_location(
    "booru_server", Path(__file__).parent / "fixtures/booru/booru_server.py"
)
booru_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(booru_server)


def post_ids(raw: Path) -> list[int]:
    ids = []
    for path in sorted(raw.glob("post-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            ids.extend(json.loads(line)["id"] for line in fh)
    return ids


def test_stop_and_resume_gives_every_post_once(workdir, local_http_server):
    n_posts = 24
    handler = booru_server.make_handler(n_posts, faults={"slow"})
    base = local_http_server(handler=handler)
    ws = Workspace.at(workdir)
    args = {"page_size": 2}
    options = {"throttle": False, "quiet": True, "settings": {"ACG2VEC_DOWNLOAD_FILES": False}, "batch_items": 3}

    handle = start_spider("safebooru", workspace=ws, base_url=base, spider_args=args, **options)
    deadline = time.monotonic() + 60
    while handler.server_state["posts_requests"] < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    handle.stop()
    first = handle.wait(timeout=60)
    assert first.finish_reason == "shutdown"
    assert (workdir / "jobs" / "safebooru").is_dir()  # pending requests kept for the resume
    done_first = post_ids(workdir / "raw" / "safebooru")
    assert 0 < len(done_first) < n_posts

    second = run_spider("safebooru", workspace=ws, base_url=base, spider_args=args, timeout=120, **options)
    assert second.finished
    ids = post_ids(workdir / "raw" / "safebooru")
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert duplicates == []
    assert sorted(ids) == [10 * k for k in range(1, n_posts + 1)]  # no gap
    assert first.written["post"] + second.written["post"] == n_posts
    assert not (workdir / "jobs" / "safebooru").exists()
    manifest = json.loads((workdir / "raw" / "safebooru" / "manifest.json").read_text())
    assert [r["finish_reason"] for r in manifest["runs"]] == ["shutdown", "finished"]
    assert manifest["items"]["post"] == n_posts


def test_after_a_hard_kill_the_next_run_fills_the_gaps(workdir, local_http_server):
    # SIGKILL loses the feed batches still open; the next run sees the kill, walks the site again and writes
    # only what is missing, without being asked to start fresh.
    from acg2vec.errors import UserError

    n_posts = 18
    handler = booru_server.make_handler(n_posts, faults={"slow"})
    base = local_http_server(handler=handler)
    ws = Workspace.at(workdir)
    options = {"throttle": False, "quiet": True, "settings": {"ACG2VEC_DOWNLOAD_FILES": False}, "batch_items": 2}
    handle = start_spider("safebooru", workspace=ws, base_url=base, spider_args={"page_size": 2}, **options)
    deadline = time.monotonic() + 60
    while handler.server_state["posts_requests"] < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    handle.kill()
    with pytest.raises(UserError, match="without a report"):
        handle.wait(timeout=30)
    kept = post_ids(workdir / "raw" / "safebooru")
    assert len(kept) < n_posts

    assert (workdir / "jobs" / "safebooru" / RUNNING_MARKER).is_file()
    report = run_spider("safebooru", workspace=ws, base_url=base, spider_args={"page_size": 2},
                        timeout=120, **options)  # fmt: skip
    assert not (workdir / "jobs").joinpath("safebooru").exists()
    ids = post_ids(workdir / "raw" / "safebooru")
    assert sorted(ids) == [10 * k for k in range(1, n_posts + 1)] and len(ids) == len(set(ids))
    assert report.written["post"] == n_posts - len(kept)
    assert report.skipped.get("already-have", 0) >= len(kept)
