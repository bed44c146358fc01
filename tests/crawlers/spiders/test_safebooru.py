"""Whole Safebooru crawls against the bundled sample site: every post and tag exactly, under each fault mode,
and stopped and resumed with no post duplicated or lost."""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from acg2vec.crawlers.items import item_from_dict
from acg2vec.crawlers.runner import run_spider, start_spider
from acg2vec.sample_site import FaultPlan, start_sample_site
from acg2vec.workspace import Workspace

pytestmark = pytest.mark.integration

N_POSTS = 30


def read_items(raw: Path, kind: str) -> list:
    items = []
    for path in sorted(raw.glob(f"{kind}-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            items.extend(item_from_dict(json.loads(line)) for line in fh)
    return items


def crawl(workdir: Path, site, **kwargs):
    kwargs.setdefault("spider_args", {"page_size": 8})
    return run_spider("safebooru", workspace=Workspace.at(workdir), base_url=site.url_for("safebooru"),
                      throttle=False, quiet=True, timeout=180, **kwargs)  # fmt: skip


def test_whole_crawl_matches_the_sample_world(workdir):
    with start_sample_site(posts=N_POSTS) as site:
        report = crawl(workdir, site)
        world = {p.id: p for p in site.world.posts}
        raw = workdir / "raw" / "safebooru"
        posts = {p.id: p for p in read_items(raw, "post")}
        assert sorted(posts) == sorted(world)
        for pid, post in posts.items():
            assert set(post.tags) == set(world[pid].tags)
            assert post.md5 == site.images.original(world[pid]).md5
            assert post.rating == world[pid].rating and post.score == world[pid].score
            assert post.file_path and (raw / post.file_path).is_file() and post.file_checksum == post.md5
        tags = {t.name: (t.category, t.count) for t in read_items(raw, "tag")}
        assert tags == site.world.tag_counts()
    assert report.finished and report.dropped == {} and report.bad_input == {}
    assert report.written == {"post": N_POSTS, "tag": len(tags)}


def test_xml_answers_and_the_whole_tag_list(workdir):
    with start_sample_site(posts=N_POSTS) as site:
        report = crawl(workdir, site, spider_args={"page_size": 7, "format": "xml", "tag_list": "all"},
                       settings={"ACG2VEC_DOWNLOAD_FILES": False})  # fmt: skip
        world = {p.id: p for p in site.world.posts}
        expected_tags = site.world.tag_counts()
    raw = workdir / "raw" / "safebooru"
    posts = {p.id: p for p in read_items(raw, "post")}
    assert sorted(posts) == sorted(world)
    assert all(set(p.tags) == set(world[i].tags) and p.created_at for i, p in posts.items())
    assert {t.name: (t.category, t.count) for t in read_items(raw, "tag")} == expected_tags
    assert report.finished and report.bad_input == {}


@pytest.mark.parametrize(
    "plan",
    [
        FaultPlan(rate_limit=1, retry_after=1, paths=("page=dapi",)),
        FaultPlan(server_error=3, retry_after=0, paths=("page=dapi",)),
        FaultPlan(truncated=1, cut_json=1, paths=("page=dapi",)),
        FaultPlan(html_error=2, paths=("page=dapi",)),
        FaultPlan(slow=1, slow_seconds=0.3, paths=("page=dapi",)),
    ],
    ids=["429-retry-after", "5xx-burst", "truncated-and-cut", "html-200", "slow"],
)
def test_each_fault_mode_is_ridden_out_without_losing_a_post(workdir, plan):
    with start_sample_site(posts=N_POSTS, faults=plan) as site:
        report = crawl(workdir, site, settings={"ACG2VEC_DOWNLOAD_FILES": False})
        injected = dict(site.faults.injected)
        expected_tags = len(site.world.tag_counts())
    posts = read_items(workdir / "raw" / "safebooru", "post")
    assert sorted(p.id for p in posts) == sorted(p.id for p in site.world.posts)
    assert report.finished and report.bad_input == {} and report.written["tag"] == expected_tags
    assert sum(injected.values()) > 0
    if plan.rate_limit:
        assert report.status_counts["429"] == injected["rate_limit"]
        assert report.elapsed_s >= 1.0  # Retry-After: 1 was waited for
    if plan.server_error:
        assert report.retries >= injected["server_error"]
    # (A cut blank page, the answer past the last page, is still blank: so ">=" / "> 0" rather than "==".)
    if plan.truncated:  # Content-Length promised more than came: a data-loss error, retried by the middleware
        assert report.errors > 0 and report.retries >= report.errors
    if plan.cut_json:  # a well-formed answer with a broken JSON / XML body: retried by the spider
        assert report.counters.get("page_retries/bad-json", 0) + report.counters.get("page_retries/bad-xml", 0) > 0
    if plan.html_error:
        assert report.counters["page_retries/html-instead-of-data"] == injected["html_error"]
    if plan.html_error or plan.cut_json:
        assert not (workdir / "raw" / "safebooru" / "dead_letters" / "safebooru.jsonl.gz").exists()


def test_a_page_that_never_heals_is_dead_lettered_and_the_crawl_goes_on(workdir):
    # Every first page attempt is an HTML error page, more often than the spider retries a page.
    plan = FaultPlan(html_error=10, paths=("s=tag",))
    with start_sample_site(posts=N_POSTS, faults=plan) as site:
        report = crawl(workdir, site, settings={"ACG2VEC_DOWNLOAD_FILES": False})
    assert report.finished and report.written == {"post": N_POSTS}
    assert report.bad_input == {"html-instead-of-data": report.bad_input["html-instead-of-data"]}
    with gzip.open(workdir / "raw" / "safebooru" / "dead_letters" / "safebooru.jsonl.gz", "rt") as fh:
        letters = [json.loads(line) for line in fh]
    assert len(letters) == report.bad_input["html-instead-of-data"] > 0
    assert all("s=tag" in letter["record"]["url"] for letter in letters)


def test_stop_and_resume_against_the_sample_site(workdir):
    plan = FaultPlan(slow=1, slow_seconds=0.3, paths=("s=post",))
    with start_sample_site(posts=N_POSTS, faults=plan) as site:
        ws = Workspace.at(workdir)
        options = {"spider_args": {"page_size": 3}, "throttle": False, "quiet": True, "batch_items": 4,
                   "settings": {"ACG2VEC_DOWNLOAD_FILES": False}}  # fmt: skip
        handle = start_spider("safebooru", workspace=ws, base_url=site.url_for("safebooru"), **options)
        deadline = time.monotonic() + 60
        while site.faults.injected["slow"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        handle.stop()
        first = handle.wait(timeout=60)
        assert first.finish_reason == "shutdown"
        second = run_spider("safebooru", workspace=ws, base_url=site.url_for("safebooru"), timeout=120, **options)
        world_ids = sorted(p.id for p in site.world.posts)
    ids = [p.id for p in read_items(workdir / "raw" / "safebooru", "post")]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert sorted(ids) == world_ids
    assert second.finished and 0 < first.written.get("post", 0) < N_POSTS
