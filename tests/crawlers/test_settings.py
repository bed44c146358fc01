"""Politeness against the sample site: robots.txt is obeyed before anything else is fetched."""

from __future__ import annotations

import pytest

from acg2vec.crawlers.runner import run_spider
from acg2vec.crawlers.sample_site import start_sample_site
from acg2vec.workspace import Workspace

pytestmark = pytest.mark.integration


def test_a_path_robots_txt_disallows_is_never_requested(workdir):
    with start_sample_site(posts=20) as site:
        # The sample site's robots.txt disallows /private/: a crawl pointed there must not send one request to it.
        report = run_spider(
            "safebooru",
            workspace=Workspace.at(workdir),
            base_url=f"{site.base_url}/private/safebooru",
            throttle=False,
            quiet=True,
            timeout=120,
        )
        allowed = run_spider(
            "safebooru",
            workspace=Workspace.at(workdir),
            base_url=site.url_for("safebooru"),
            throttle=False,
            quiet=True,
        )
    assert report.finish_reason == "finished" and report.items_written == 0
    assert report.requests == 1 and report.status_counts == {"200": 1}  # robots.txt alone
    assert allowed.written.get("post") == 20
