"""``python -m acg2vec.sample_site``: every fault kind can be switched on from the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from acg2vec.sample_site import FAULT_KINDS, FaultPlan
from acg2vec.sample_site.__main__ import FAULT_OPTIONS, fault_plan, parser
from tests.sample_site.client import dapi_url, fetch


@pytest.mark.unit
def test_every_fault_kind_has_an_option_documented_in_help():
    assert {field for _, field, _ in FAULT_OPTIONS} == set(FAULT_KINDS)
    text = parser().format_help()
    for option, _, _ in FAULT_OPTIONS:
        assert option in text
    assert "--fault-every" in text and "--fault-path" in text and "acg2vec crawl safebooru" in text


@pytest.mark.unit
def test_the_options_make_the_fault_plan():
    args = parser().parse_args(
        ["--rate-limit", "1", "--server-errors", "2", "--truncated", "1", "--cut-bodies", "1", "--html-errors", "1",
         "--slow", "1", "--slow-seconds", "0.1", "--retry-after", "0", "--fault-every", "3",
         "--fault-site", "safebooru", "--fault-path", "/images/"]
    )  # fmt: skip
    assert fault_plan(args) == FaultPlan(
        rate_limit=1, server_error=2, truncated=1, cut_json=1, html_error=1, slow=1, slow_seconds=0.1,
        retry_after=0, every=3, sites=("safebooru",), paths=("/images/",),
    )  # fmt: skip
    assert fault_plan(parser().parse_args([])) is None
    for bad in (["--rate-limit", "-1"], ["--fault-every", "0"], ["--posts", "0"]):
        with pytest.raises(SystemExit):
            parser().parse_args(bad)


@pytest.mark.integration
def test_a_served_site_answers_with_the_faults_asked_for():
    process = subprocess.Popen(
        [sys.executable, "-m", "acg2vec.sample_site", "--port", "0", "--posts", "20",
         "--html-errors", "1", "--cut-bodies", "1", "--fault-path", "s=post"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        base = process.stdout.readline().split()[-1]

        class Site:
            @staticmethod
            def url_for(name: str) -> str:
                return base

        url = dapi_url(Site, json=1, limit=5)
        statuses = [fetch(url) for _ in range(3)]
        # In the fixed order: a cut body first (valid HTTP, half the JSON), then an HTML page with status 200.
        assert statuses[0][0] == 200 and statuses[0][2].startswith(b"[") and not statuses[0][2].endswith(b"]")
        assert statuses[1][0] == 200 and b"<html" in statuses[1][2]
        assert statuses[2][0] == 200 and statuses[2][2].endswith(b"]")
        assert fetch(base + "/robots.txt")[0] == 200  # robots.txt is never faulted
    finally:
        process.terminate()
        process.wait(timeout=10)
