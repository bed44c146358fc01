"""Whole Safebooru crawls in a child process against a tiny local DAPI server (tests/crawlers/fixtures/booru)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acg2vec.crawlers.items import Post, Tag, item_from_dict
from acg2vec.crawlers.runner import RUNNING_MARKER, run_spider, start_spider
from acg2vec.errors import UserError
from acg2vec.workspace import Workspace

_spec = importlib.util.spec_from_file_location(
    "booru_server", Path(__file__).parent / "fixtures/booru/booru_server.py"
)


booru_server = importlib.util.module_from_spec(_spec)


_spec.loader.exec_module(booru_server)


def read_items(raw: Path, kind: str) -> list:
    items = []
    for path in sorted(raw.glob(f"{kind}-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            items.extend(item_from_dict(json.loads(line)) for line in fh)
    return items


def dead_letter_reasons(raw: Path) -> list[str]:
    path = raw / "dead-letters.jsonl.gz"
    if not path.exists():
        return []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return sorted(json.loads(line)["reason"] for line in fh)


def report_stat(raw: Path, key: str) -> int:
    """An acg2vec counter of the last run, as the manifest records it."""
    return json.loads((raw / "manifest.json").read_text())["runs"][-1]["counters"].get(key, 0)


def crawl(workdir: Path, base_url: str, **kwargs):
    kwargs.setdefault("throttle", False)
    kwargs.setdefault("quiet", True)
    return run_spider("safebooru", workspace=Workspace.at(workdir), base_url=base_url, timeout=120, **kwargs)


@pytest.mark.integration
def test_whole_crawl_fills_raw_with_posts_tags_files_and_a_manifest(workdir, local_http_server):
    handler = booru_server.make_handler(12, prefix="/safebooru")
    base = local_http_server(handler=handler) + "/safebooru"
    report = crawl(workdir, base, spider_args={"page_size": 5}, batch_items=5)
    raw = workdir / "raw" / "safebooru"

    posts = read_items(raw, "post")
    assert sorted(p.id for p in posts) == [10 * k for k in range(1, 13)]
    assert all(isinstance(p, Post) and p.file_path for p in posts)
    for p in posts:
        assert (raw / p.file_path).read_bytes() == handler.posts_data[p.id // 10 - 1]["_body"]
        assert p.file_path == f"files/{p.md5[:2]}/{p.md5}.png" and p.file_checksum == p.md5
    tags = {t.name: t.category for t in read_items(raw, "tag")}
    assert tags == {"red": "general", "green": "general", "blue": "general", "artist_a": "artist",
                    "series_x": "copyright", "hero": "character"}  # fmt: skip
    assert len(list(raw.glob("post-*.jsonl.gz"))) == 3  # batches of 5 posts

    assert report.finished and report.written == {"post": 12, "tag": 6}
    assert report.items_read == 18 and report.dropped == {} and report.bad_input == {}
    assert report.files_downloaded == 12
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["items"] == {"post": 12, "tag": 6} and len(manifest["runs"]) == 1
    assert not (workdir / "jobs" / "safebooru").exists()  # a finished crawl leaves no job to resume


@pytest.mark.integration
def test_recrawl_skips_what_it_has_and_counts_add_up(workdir, local_http_server):
    base = local_http_server(handler=booru_server.make_handler(6))
    crawl(workdir, base, settings={"ACG2VEC_DOWNLOAD_FILES": False})
    again = crawl(workdir, base, settings={"ACG2VEC_DOWNLOAD_FILES": False})
    assert again.written == {} and again.skipped == {"already-have": 6 + 6}
    assert again.items_read == 12
    raw = workdir / "raw" / "safebooru"
    assert len(read_items(raw, "post")) == 6
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["items"] == {"post": 6, "tag": 6} and len(manifest["runs"]) == 2


@pytest.mark.integration
def test_faults_are_retried_counted_and_dead_lettered(workdir, local_http_server):
    handler = booru_server.make_handler(8, faults={"429", "html200", "not-image", "bad-md5"})
    base = local_http_server(handler=handler)
    report = crawl(workdir, base, spider_args={"page_size": 3})
    raw = workdir / "raw" / "safebooru"
    posts = {p.id: p for p in read_items(raw, "post")}
    assert sorted(posts) == [10 * k for k in range(1, 9)]  # nothing lost to the 429 or the HTML page
    assert posts[10].file_path is None and posts[20].file_path is None  # kept, without the bad files
    assert all(posts[i].file_path for i in range(30, 90, 10))
    assert not any((raw / "files").rglob(f"{posts[10].md5}.*"))
    assert report.status_counts["429"] == 1 and report.retries == 1
    assert report_stat(raw, "host_slowed") == 1  # the whole host waited, not only the retried request
    assert report.bad_input == {"file-checksum-mismatch": 1, "file-not-an-image": 1}
    assert dead_letter_reasons(raw) == ["file-checksum-mismatch", "file-not-an-image"]
    assert report.elapsed_s >= 1.0  # the Retry-After: 1 was waited for


@pytest.mark.integration
def test_xml_format_limit_and_id_range(workdir, local_http_server):
    base = local_http_server(handler=booru_server.make_handler(12))
    report = crawl(
        workdir,
        base,
        spider_args={"format": "xml", "min_id": 30, "max_id": 100, "limit": 5, "page_size": 2, "tag_list": "none"},
        settings={"ACG2VEC_DOWNLOAD_FILES": False},
    )
    posts = read_items(workdir / "raw" / "safebooru", "post")
    assert sorted(p.id for p in posts) == [60, 70, 80, 90, 100]
    assert all(p.created_at == "2017-09-20T15:31:21+00:00" for p in posts)
    assert report.written == {"post": 5}


@pytest.mark.integration
def test_sample_rendition_is_stored_without_md5_check(workdir, local_http_server):
    handler = booru_server.make_handler(2, samples=True)
    report = crawl(workdir, local_http_server(handler=handler), settings={"ACG2VEC_FILES_RENDITION": "sample"})
    raw = workdir / "raw" / "safebooru"
    posts = read_items(raw, "post")
    assert report.bad_input == {} and len(posts) == 2
    for p in posts:
        assert p.file_path == f"files/{p.md5[:2]}/{p.md5}.jpg"
        assert (raw / p.file_path).read_bytes()[:2] == b"\xff\xd8"  # the JPEG sample, not the PNG original
        assert p.file_checksum != p.md5


@pytest.mark.integration
def test_unknown_spider_is_a_user_error(workdir):
    with pytest.raises(UserError, match="no spider named 'nosuchsite'"):
        run_spider("nosuchsite", workspace=Workspace.at(workdir), timeout=60)


@pytest.mark.integration
def test_cli_prints_the_counts(workdir, local_http_server):
    from acg2vec.cli import app

    base = local_http_server(handler=booru_server.make_handler(3))
    result = CliRunner().invoke(app, ["-q", "crawl", "safebooru", "--base-url", base, "--no-throttle", "--no-files"])
    assert result.exit_code == 0, result.output
    assert (
        "written" in result.output
        and "post" in result.output
        and "read = written + dropped + skipped" in result.output
    )
    posts = read_items(workdir / "raw" / "safebooru", "post")
    assert len(posts) == 3 and all(p.file_path is None for p in posts)
    tags = read_items(workdir / "raw" / "safebooru", "tag")
    assert all(isinstance(t, Tag) for t in tags)


@pytest.mark.integration
def test_cli_rejects_a_bad_option_in_one_line(workdir):
    from acg2vec.cli import app

    result = CliRunner().invoke(app, ["crawl", "safebooru", "--format", "yaml"])
    assert result.exit_code != 0 and isinstance(result.exception, UserError)


@pytest.mark.unit
def test_a_remote_workdir_is_refused_in_one_sentence():
    with pytest.raises(UserError, match="local workdir"):
        run_spider("safebooru", workspace=Workspace.at("gs://bucket/acg2vec"))


@pytest.mark.unit
def test_report_from_stats_and_the_cumulative_manifest(tmp_path):
    from datetime import UTC, datetime

    from acg2vec.crawlers.feeds import CrawlReport, update_manifest
    from acg2vec.crawlers.runner import new_run_id

    stats = {
        "finish_reason": "finished",
        "start_time": datetime(2026, 1, 1, tzinfo=UTC),
        "elapsed_time_seconds": 2.5,
        "acg2vec/written/post": 5,
        "acg2vec/written/tag": 2,
        "acg2vec/dropped/no-tags": 1,
        "acg2vec/skipped/already-have": 3,
        "acg2vec/bad_input/bad-json": 4,
        "downloader/request_count": 9,
        "downloader/response_status_count/200": 8,
        "downloader/response_status_count/429": 1,
        "retry/count": 1,
    }
    report = CrawlReport.from_stats(stats, spider="safebooru", source="safebooru", run_id=new_run_id())
    assert report.items_read == 5 + 2 + 1 + 3
    assert report.bad_input == {"bad-json": 4} and report.status_counts == {"200": 8, "429": 1}
    assert report.started_at == "2026-01-01T00:00:00+00:00"
    assert CrawlReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    update_manifest(tmp_path, report)
    manifest = update_manifest(tmp_path, report)
    assert manifest["items"] == {"post": 10, "tag": 4} and len(manifest["runs"]) == 2
    assert new_run_id() != new_run_id()


@pytest.mark.unit
def test_an_error_in_a_callback_is_counted_and_dead_lettered(workdir):
    from scrapy import Spider
    from scrapy.http import Request, TextResponse
    from scrapy.utils.test import get_crawler
    from twisted.python.failure import Failure

    from acg2vec.crawlers.feeds import bookkeeping

    crawler = get_crawler(Spider, {"ACG2VEC_WORKSPACE": str(workdir), "ACG2VEC_SOURCE": "safebooru"})
    book = bookkeeping(crawler)
    url = "http://127.0.0.1/page"
    try:
        raise KeyError("field")
    except KeyError:
        failure = Failure()
    book.spider_error(failure, TextResponse(url, body=b"{}", request=Request(url)))
    book.dead_letters.close()
    assert crawler.stats.get_value("acg2vec/bad_input/callback-error") == 1
    with gzip.open(workdir / "raw" / "safebooru" / "dead-letters.jsonl.gz", "rt") as fh:
        (letter,) = [json.loads(line) for line in fh]
    assert letter["reason"] == "callback-error" and letter["record"]["url"] == url and "KeyError" in letter["detail"]


@pytest.mark.integration
def test_a_spider_argument_it_refuses_is_a_user_error(workdir):
    with pytest.raises(UserError, match="could not start: format must be json or xml"):
        run_spider("safebooru", workspace=Workspace.at(workdir), base_url="http://127.0.0.1:9",
                   spider_args={"format": "yaml"}, quiet=True, timeout=60)  # fmt: skip


pytestmark = pytest.mark.integration


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
