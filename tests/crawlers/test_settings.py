"""Politeness against the sample site: robots.txt is obeyed before anything else is fetched."""

from __future__ import annotations

import pytest

from acg2vec.crawlers.runner import run_spider
from acg2vec.sample_site import start_sample_site
from acg2vec.workspace import Workspace

pytestmark = pytest.mark.integration


def test_a_path_robots_txt_disallows_is_never_requested(workdir):
    import json

    from acg2vec.errors import UserError

    with start_sample_site(posts=20) as site:
        # The sample site's robots.txt disallows /private/: a crawl pointed there must not send one request to it,
        # and one that robots.txt forbids entirely is the user's to know, not a quiet success.
        with pytest.raises(UserError, match="forbids"):
            run_spider(
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
    refused = json.loads((workdir / "raw" / "safebooru" / "manifest.json").read_text())["runs"][0]
    assert refused["finish_reason"] == "finished" and refused["written"] == {}
    assert refused["requests"] == 1 and refused["status_counts"] == {"200": 1}  # robots.txt alone
    assert refused["bad_input"] == {"forbidden-by-robots": 1}
    assert allowed.written.get("post") == 20
