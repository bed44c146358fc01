"""Whole Safebooru crawls in a child process against the sample site: files, faults, resume, locks, robots.txt."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acg2vec.crawlers.items import Post, Tag, item_from_dict
from acg2vec.crawlers.runner import RUNNING_MARKER, lock_path, run_spider, start_spider
from acg2vec.errors import UserError
from acg2vec.sample_site import FAULT_KINDS, FaultPlan, start_sample_site
from acg2vec.sample_site.booru import directory_of
from acg2vec.sample_site.faults import FaultInjector
from acg2vec.workspace import Workspace


def read_items(raw: Path, kind: str) -> list:
    items = []
    for path in sorted(raw.glob(f"{kind}-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            items.extend(item_from_dict(json.loads(line)) for line in fh)
    return items


def post_ids(raw: Path) -> list[int]:
    ids = []
    for path in sorted(raw.glob("post-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            ids.extend(json.loads(line)["id"] for line in fh)
    return ids


def dead_letter_reasons(raw: Path) -> list[str]:
    path = raw / "dead_letters" / "safebooru.jsonl.gz"
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


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def file_url_path(site, post) -> str:
    """The path of a post's original file on the sample site."""
    md5 = site.images.original(post).md5
    return f"/safebooru/images/{directory_of(post)}/{md5}.{post.ext}"


def wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.integration
def test_whole_crawl_fills_raw_with_posts_tags_files_and_a_manifest(workdir):
    with start_sample_site(posts=12) as site:
        report = crawl(workdir, site.url_for("safebooru"), spider_args={"page_size": 5}, batch_items=5)
    raw = workdir / "raw" / "safebooru"
    world = site.world

    posts = read_items(raw, "post")
    assert sorted(p.id for p in posts) == sorted(p.id for p in world.posts)
    for p in posts:
        original = site.images.original(world.by_post_id[p.id])
        assert isinstance(p, Post) and (raw / p.file_path).read_bytes() == original.data
        assert p.file_path == f"files/{p.md5[:2]}/{p.md5}.{world.by_post_id[p.id].ext}" and p.file_checksum == p.md5
    seen = {t for p in world.posts for t in p.tags}
    categories = {name: cat for name, (cat, _count) in world.tag_counts().items() if name in seen}
    assert {t.name: t.category for t in read_items(raw, "tag")} == categories
    assert len(list(raw.glob("post-*.jsonl.gz"))) == 3  # batches of 5 posts

    assert report.finished and report.written == {"post": 12, "tag": len(categories)}
    assert report.items_read == 12 + len(categories) and report.dropped == {} and report.bad_input == {}
    assert report.files_downloaded == 12 and report.files_on_disk == 12
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["items"] == {"post": 12, "tag": len(categories)} and len(manifest["runs"]) == 1
    assert not (workdir / "jobs" / "safebooru").exists()  # a finished crawl leaves no job to resume


@pytest.mark.integration
def test_recrawl_skips_what_it_has_and_a_raw_line_that_is_not_utf8_is_dead_lettered(workdir):
    with start_sample_site(posts=6) as site:
        first = crawl(workdir, site.url_for("safebooru"), settings={"ACG2VEC_DOWNLOAD_FILES": False})
        raw = workdir / "raw" / "safebooru"
        with gzip.open(raw / "post-00000000T000000-bad-00001.jsonl.gz", "wb") as fh:
            fh.write(b'{"kind": "post", "source_id": "\xff\xfe broken"}\n')
        again = crawl(workdir, site.url_for("safebooru"), settings={"ACG2VEC_DOWNLOAD_FILES": False})
    tags = first.written["tag"]
    assert first.written == {"post": 6, "tag": tags}
    assert again.written == {} and again.skipped == {"already-have": 6 + tags} and again.items_read == 6 + tags
    assert again.bad_input == {"raw-undecodable-utf8": 1}
    assert dead_letter_reasons(raw) == ["raw-undecodable-utf8"]
    assert again.dead_lettered == {"safebooru-raw-undecodable-utf8": 1}
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["runs"][-1]["dead_lettered"] == again.dead_lettered
    assert manifest["items"] == {"post": 6, "tag": tags} and len(manifest["runs"]) == 2


@pytest.mark.integration
def test_429_and_html_pages_are_retried_and_the_retry_after_is_waited_for(workdir):
    plan = FaultPlan(rate_limit=1, html_error=1, retry_after=1, paths=("s=post",))
    with start_sample_site(posts=3, faults=plan) as site:
        report = crawl(workdir, site.url_for("safebooru"), spider_args={"page_size": 5, "tag_list": "none"})
        pages = site.faults.injected["rate_limit"]
    raw = workdir / "raw" / "safebooru"
    assert sorted(post_ids(raw)) == sorted(p.id for p in site.world.posts)  # nothing lost to the faults
    assert pages == 2  # the page of 3 posts and the blank page after it, each answered 429 then HTML first
    assert site.faults.injected == {"rate_limit": 2, "html_error": 2}
    assert report.status_counts["429"] == 2 and report.retries == 2
    assert report_stat(raw, "page_retries/html-instead-of-data") == 2
    assert report_stat(raw, "host_slowed") >= 1  # the whole host waited, not only the retried request
    assert report.bad_input == {} and report.elapsed_s >= 1.0  # the Retry-After: 1 was waited for


@pytest.mark.integration
def test_a_file_that_stays_broken_is_dead_lettered_after_its_retries_and_the_rerun_repairs_it(workdir):
    raw = workdir / "raw" / "safebooru"
    with start_sample_site(posts=5) as site:
        broken, lost = site.world.posts[0], site.world.posts[1]
        site.faults = FaultInjector(FaultPlan(html_error=99, paths=(file_url_path(site, broken),)))
        first = crawl(workdir, site.url_for("safebooru"), settings={"RETRY_TIMES": 2})
        assert site.faults.injected == {"html_error": 3}  # the first try and 2 retries
        # The post waits for its file: dropped and dead-lettered, the other posts have theirs.
        assert sorted(post_ids(raw)) == sorted(p.id for p in site.world.posts[1:])
        assert first.bad_input == {"file-not-an-image": 1} and first.dropped == {"no-file": 1}
        assert report_stat(raw, "file_retries/not-an-image") == 2
        assert dead_letter_reasons(raw) == ["file-not-an-image", "no-file"]
        assert first.dead_lettered == {"safebooru-file-not-an-image": 1, "safebooru-no-file": 1}
        assert first.files_downloaded == 4 and first.files_on_disk == 4

        site.faults = FaultInjector(None)  # the site is well again
        second = crawl(workdir, site.url_for("safebooru"))
        assert second.written == {"post": 1} and second.files_downloaded == 1 and second.files_on_disk == 5

        # A file lost (or cut) on disk after its post was written is fetched again; the post is not rewritten.
        lost_file = next(p for p in read_items(raw, "post") if p.id == lost.id).file_path
        (raw / lost_file).write_bytes(b"cut")
        third = crawl(workdir, site.url_for("safebooru"))
    assert third.written == {} and third.files_downloaded == 1
    assert report_stat(raw, "files/repaired") == 1
    ids = post_ids(raw)
    assert sorted(ids) == sorted(p.id for p in site.world.posts) and len(ids) == len(set(ids))
    for p in read_items(raw, "post"):
        assert md5_of(raw / p.file_path) == p.md5


@pytest.mark.integration
def test_chaos_every_fault_kind_on_pages_and_image_urls_loses_nothing(workdir):
    """Every fault kind the sample site has, on one URL in two (image files included): every post and file lands."""
    plan = FaultPlan(
        rate_limit=1, server_error=1, truncated=1, cut_json=1, html_error=1, slow=1, slow_seconds=0.05,
        retry_after=0, every=2,
    )  # fmt: skip
    raw = workdir / "raw" / "safebooru"
    with start_sample_site(posts=40, faults=plan) as site:
        first = crawl(workdir, site.url_for("safebooru"), spider_args={"page_size": 10})
        injected = dict(site.faults.injected)
        second = crawl(workdir, site.url_for("safebooru"), spider_args={"page_size": 10})
    assert set(injected) == set(FAULT_KINDS) and len(set(injected.values())) == 1  # each picked URL got each kind
    ids = post_ids(raw)
    assert sorted(ids) == sorted(p.id for p in site.world.posts) and len(ids) == len(set(ids))
    for p in read_items(raw, "post"):
        assert p.file_path and md5_of(raw / p.file_path) == p.md5
    files = len({site.images.original(p).md5 for p in site.world.posts})  # the world has a re-upload: 39 files
    assert first.written["post"] == 40 and first.bad_input == {} and first.dropped == {}
    assert first.files_downloaded == files and first.files_on_disk == files
    assert second.written == {} and second.files_downloaded == 0 and second.files_on_disk == files


@pytest.mark.integration
def test_xml_format_limit_and_id_range(workdir):
    with start_sample_site(posts=12) as site:
        report = crawl(
            workdir,
            site.url_for("safebooru"),
            spider_args={"format": "xml", "min_id": 1004, "max_id": 1019, "limit": 5, "page_size": 2,
                         "tag_list": "none"},
            settings={"ACG2VEC_DOWNLOAD_FILES": False},
        )  # fmt: skip
    posts = read_items(workdir / "raw" / "safebooru", "post")
    assert sorted(p.id for p in posts) == [1013, 1014, 1015, 1018, 1019]
    for p in posts:
        assert p.created_at == site.world.by_post_id[p.id].created_at.isoformat()
    assert report.written == {"post": 5}


@pytest.mark.integration
def test_sample_rendition_is_stored_without_md5_check(workdir):
    from acg2vec.sample_site.illustrations import has_sample

    with start_sample_site(posts=20) as site:
        report = crawl(workdir, site.url_for("safebooru"), spider_args={"min_id": 1020, "max_id": 1030},
                       settings={"ACG2VEC_FILES_RENDITION": "sample"})  # fmt: skip
    raw = workdir / "raw" / "safebooru"
    posts = read_items(raw, "post")
    sampled = [p for p in posts if has_sample(p.width, p.height)]
    assert report.bad_input == {} and len(sampled) == 3 and len(posts) > 3
    for p in posts:
        if p in sampled:
            assert p.file_path == f"files/{p.md5[:2]}/{p.md5}.jpg"
            assert (raw / p.file_path).read_bytes() == site.images.sample(site.world.by_post_id[p.id]).data
            assert p.file_checksum != p.md5
        else:  # no sample: the original, md5 checked
            assert p.file_checksum == p.md5


@pytest.mark.integration
def test_unknown_spider_is_a_user_error(workdir):
    with pytest.raises(UserError, match="no spider named 'nosuchsite'"):
        run_spider("nosuchsite", workspace=Workspace.at(workdir), timeout=60)


@pytest.mark.integration
def test_cli_prints_the_counts(workdir):
    from acg2vec.cli import app

    with start_sample_site(posts=3) as site:
        args = ["-q", "crawl", "safebooru", "--base-url", site.url_for("safebooru"), "--no-throttle", "--no-files"]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "written" in result.output and "post" in result.output
    assert "read = written + dropped + skipped" in result.output
    posts = read_items(workdir / "raw" / "safebooru", "post")
    assert len(posts) == 3 and all(p.file_path is None for p in posts)
    assert all(isinstance(t, Tag) for t in read_items(workdir / "raw" / "safebooru", "tag"))


@pytest.mark.integration
def test_cli_rejects_a_bad_option_in_one_line(workdir):
    from acg2vec.cli import app

    result = CliRunner().invoke(app, ["crawl", "safebooru", "--format", "yaml"])
    assert result.exit_code != 0 and isinstance(result.exception, UserError)


@pytest.mark.integration
def test_a_crawl_robots_txt_forbids_entirely_is_a_user_error_not_a_network_error(workdir):
    with start_sample_site(posts=3) as site:
        # The sample site's robots.txt disallows /private/ for every crawler.
        with pytest.raises(UserError, match=r"robots\.txt .* forbids .*nothing was crawled"):
            crawl(workdir, site.base_url + "/private/safebooru")
        assert site.requests["safebooru"] == 0
    manifest = json.loads((workdir / "raw" / "safebooru" / "manifest.json").read_text())
    assert manifest["runs"][-1]["bad_input"] == {"forbidden-by-robots": 1}


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
        "acg2vec/files/stored": 4,
        "file_status_count/downloaded": 6,  # Scrapy counts bodies received, checked or not
        "downloader/request_count": 9,
        "downloader/response_status_count/200": 8,
        "downloader/response_status_count/429": 1,
        "retry/count": 1,
    }
    report = CrawlReport.from_stats(stats, spider="safebooru", source="safebooru", run_id=new_run_id())
    assert report.items_read == 5 + 2 + 1 + 3
    assert report.bad_input == {"bad-json": 4} and report.status_counts == {"200": 8, "429": 1}
    assert report.files_downloaded == 4
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
    with gzip.open(workdir / "raw" / "safebooru" / "dead_letters" / "safebooru.jsonl.gz", "rt") as fh:
        (letter,) = [json.loads(line) for line in fh]
    assert letter["reason"] == "callback-error" and letter["record"]["url"] == url and "KeyError" in letter["detail"]


@pytest.mark.integration
def test_a_spider_argument_it_refuses_is_a_user_error(workdir):
    with pytest.raises(UserError, match="could not start: format must be json or xml"):
        run_spider("safebooru", workspace=Workspace.at(workdir), base_url="http://127.0.0.1:9",
                   spider_args={"format": "yaml"}, quiet=True, timeout=60)  # fmt: skip


# -- stop, kill, resume, one crawl per job ----------------------------------------------------------------

SLOW_PAGES = FaultPlan(slow=1, slow_seconds=0.2, paths=("s=post",))  # every posts page answers late
SLOWER_PAGES = FaultPlan(slow=1, slow_seconds=1.0, paths=("s=post",))  # a crawl still running when a second starts
NO_FILES = {"throttle": False, "quiet": True, "settings": {"ACG2VEC_DOWNLOAD_FILES": False}}


@pytest.mark.integration
def test_stop_and_resume_gives_every_post_once(workdir):
    ws = Workspace.at(workdir)
    args = {"page_size": 2}
    with start_sample_site(posts=24, faults=SLOW_PAGES) as site:
        base = site.url_for("safebooru")
        handle = start_spider("safebooru", workspace=ws, base_url=base, spider_args=args, batch_items=3, **NO_FILES)
        wait_for(lambda: site.faults.injected["slow"] >= 4)
        handle.stop()
        first = handle.wait(timeout=60)
        assert first.finish_reason == "shutdown"
        assert (workdir / "jobs" / "safebooru").is_dir()  # pending requests kept for the resume
        done_first = post_ids(workdir / "raw" / "safebooru")
        assert 0 < len(done_first) < 24

        second = run_spider("safebooru", workspace=ws, base_url=base, spider_args=args, timeout=120, batch_items=3,
                            **NO_FILES)  # fmt: skip
    assert second.finished
    ids = post_ids(workdir / "raw" / "safebooru")
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert sorted(ids) == sorted(p.id for p in site.world.posts)  # no gap
    assert first.written["post"] + second.written["post"] == 24
    assert not (workdir / "jobs" / "safebooru").exists()
    manifest = json.loads((workdir / "raw" / "safebooru" / "manifest.json").read_text())
    assert [r["finish_reason"] for r in manifest["runs"]] == ["shutdown", "finished"]
    assert manifest["items"]["post"] == 24


@pytest.mark.integration
def test_after_a_hard_kill_the_next_run_fills_the_gaps(workdir):
    # SIGKILL loses the feed batches still open; the next run sees the kill, walks the site again and writes
    # only what is missing, without being asked to start fresh.
    ws = Workspace.at(workdir)
    with start_sample_site(posts=18, faults=SLOW_PAGES) as site:
        base = site.url_for("safebooru")
        handle = start_spider("safebooru", workspace=ws, base_url=base, spider_args={"page_size": 2}, batch_items=2,
                              **NO_FILES)  # fmt: skip
        wait_for(lambda: site.faults.injected["slow"] >= 4)
        handle.kill()
        with pytest.raises(UserError, match="without a report"):
            handle.wait(timeout=30)
        kept = post_ids(workdir / "raw" / "safebooru")
        assert len(kept) < 18
        assert (workdir / "jobs" / "safebooru" / RUNNING_MARKER).is_file()
        report = run_spider("safebooru", workspace=ws, base_url=base, spider_args={"page_size": 2}, timeout=120,
                            batch_items=2, **NO_FILES)  # fmt: skip
    assert not (workdir / "jobs").joinpath("safebooru").exists()
    ids = post_ids(workdir / "raw" / "safebooru")
    assert sorted(ids) == sorted(p.id for p in site.world.posts) and len(ids) == len(set(ids))
    assert report.written["post"] == 18 - len(kept)
    assert report.skipped.get("already-have", 0) >= len(kept)


@pytest.mark.integration
def test_a_second_crawl_of_the_same_job_refuses_naming_the_running_one(workdir):
    ws = Workspace.at(workdir)
    with start_sample_site(posts=24, faults=SLOWER_PAGES) as site:
        base = site.url_for("safebooru")
        handle = start_spider("safebooru", workspace=ws, base_url=base, spider_args={"page_size": 2}, **NO_FILES)
        try:
            wait_for(lambda: site.faults.injected["slow"] >= 1)
            with pytest.raises(UserError, match=rf"another safebooru crawl is running .*\(pid {handle.process.pid}, "):
                run_spider("safebooru", workspace=ws, base_url=base, timeout=60, fresh=True, **NO_FILES)
            assert (workdir / "jobs" / "safebooru" / RUNNING_MARKER).is_file()  # --fresh did not touch its job
        finally:
            handle.stop()
        first = handle.wait(timeout=60)
        assert first.finish_reason == "shutdown"
        # Once it has ended, the next crawl runs (the lock of a process that has gone is taken over).
        second = run_spider("safebooru", workspace=ws, base_url=base, spider_args={"page_size": 2}, timeout=120,
                            **NO_FILES)  # fmt: skip
    assert second.finished
    ids = post_ids(workdir / "raw" / "safebooru")
    assert sorted(ids) == sorted(p.id for p in site.world.posts) and len(ids) == len(set(ids))
    holder = json.loads(lock_path(ws, "safebooru").read_text())
    assert holder["pid"] != handle.process.pid and holder["pid"] != os.getpid()


@pytest.mark.unit
def test_a_stale_lock_is_taken_over_and_a_held_one_refuses(workdir):
    from acg2vec.crawlers.runner import JobLock

    ws = Workspace.at(workdir)
    path = lock_path(ws, "safebooru")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": 999999, "started_at": "2020-01-01T00:00:00Z"}))  # a process long gone
    lock = JobLock(path, name="safebooru", workdir=str(workdir)).acquire()
    try:
        assert json.loads(path.read_text())["pid"] == os.getpid()
        # flock locks belong to an open file description: a second one, even in this process, is refused.
        with pytest.raises(UserError, match=rf"another safebooru crawl is running in .* \(pid {os.getpid()}, started"):
            JobLock(path, name="safebooru", workdir=str(workdir)).acquire()
    finally:
        lock.release()
    JobLock(path, name="safebooru", workdir=str(workdir)).acquire().release()


WATCHED = """
import os, subprocess, sys
# The middle process starts a child without any death signal, prints its pid and exits at once.
child = subprocess.Popen([sys.executable, "-c", '''
import os, signal, time
from acg2vec.crawlers.runner import watch_parent
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a graceful stop that hangs: the watchdog must still end it
watch_parent(os.getppid(), interval=0.05, grace=0.5)
print("watching", flush=True)
time.sleep(60)
'''], stdout=subprocess.PIPE, text=True)
assert child.stdout.readline() == "watching\\n"
print(child.pid, flush=True)
"""


@pytest.mark.integration
def test_the_watchdog_ends_a_crawler_whose_parent_is_gone_even_if_it_ignores_sigterm():
    import subprocess
    import sys

    import psutil

    middle = subprocess.run([sys.executable, "-c", WATCHED], capture_output=True, text=True, timeout=120)
    pid = int(middle.stdout.strip())

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(gone, timeout=30)


@pytest.mark.integration
def test_a_site_that_never_answers_is_a_user_error(workdir):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UserError, match=rf"got no answer from http://127.0.0.1:{port}.*check --base-url"):
        crawl(workdir, f"http://127.0.0.1:{port}", settings={"RETRY_TIMES": 1})
    manifest = json.loads((workdir / "raw" / "safebooru" / "manifest.json").read_text())
    assert manifest["runs"][-1]["bad_input"] == {"network-error": 1}
