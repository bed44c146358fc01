"""The sample site's fault injection: each mode fires as configured, is counted, and then lets the URL answer."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request

import pytest

from acg2vec.sample_site import FaultPlan, start_sample_site
from acg2vec.sample_site.faults import FaultInjector
from tests.sample_site.client import fetch

pytestmark = pytest.mark.integration


def posts_url(site, **extra: object) -> str:
    query = "".join(f"&{k}={v}" for k, v in extra.items())
    return f"{site.url_for('safebooru')}/index.php?page=dapi&s=post&q=index&json=1&limit=5{query}"


def test_rate_limit_answers_429_with_retry_after_then_the_content():
    with start_sample_site(posts=30, faults=FaultPlan(rate_limit=2, retry_after=3)) as site:
        url = posts_url(site)
        for _ in range(2):
            status, headers, _ = fetch(url)
            assert status == 429 and headers["retry-after"] == "3"
        status, _, body = fetch(url)
        assert status == 200 and len(json.loads(body)) == 5
        assert site.faults.injected == {"rate_limit": 2}
        assert site.faults.attempts(url.removeprefix(site.base_url)) == 3


def test_server_error_burst_cycles_5xx():
    with start_sample_site(posts=30, faults=FaultPlan(server_error=3, retry_after=0)) as site:
        url = site.url_for("bangumi") + "/v0/subjects?type=2&limit=5"
        answers = [fetch(url) for _ in range(4)]
        assert [a[0] for a in answers] == [503, 502, 500, 200]
        assert answers[0][1]["retry-after"] == "0"
        assert json.loads(answers[3][2])["limit"] == 5
        assert site.faults.injected["server_error"] == 3


def test_truncated_body_loses_data_then_recovers():
    with start_sample_site(posts=30, faults=FaultPlan(truncated=1)) as site:
        url = posts_url(site)
        with pytest.raises(http.client.IncompleteRead):
            urllib.request.urlopen(url, timeout=10).read()
        status, _, body = fetch(url)
        assert status == 200 and len(json.loads(body)) == 5
        assert site.faults.injected == {"truncated": 1}


def test_cut_json_is_valid_http_with_broken_json():
    with start_sample_site(posts=30, faults=FaultPlan(cut_json=1)) as site:
        url = site.url_for("bangumi") + "/v0/subjects?type=2&limit=5"
        status, headers, body = fetch(url)
        assert status == 200 and int(headers["content-length"]) == len(body) > 0
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)
        assert json.loads(fetch(url)[2])["total"] > 0


def test_html_error_page_with_status_200():
    with start_sample_site(posts=30, faults=FaultPlan(html_error=1)) as site:
        status, headers, body = fetch(posts_url(site))
        assert status == 200 and headers["content-type"].startswith("text/html") and b"<html>" in body
        assert json.loads(fetch(posts_url(site))[2])


def test_slow_answers_arrive_late_but_whole():
    with start_sample_site(posts=30, faults=FaultPlan(slow=1, slow_seconds=0.3)) as site:
        started = time.monotonic()
        status, _, body = fetch(posts_url(site))
        assert time.monotonic() - started >= 0.3
        assert status == 200 and len(json.loads(body)) == 5
        assert site.faults.injected == {"slow": 1}


def test_kinds_follow_each_other_in_a_fixed_order():
    plan = FaultPlan(rate_limit=1, server_error=1, truncated=1, cut_json=1, html_error=1, slow=1)
    assert [plan.fault_for_attempt(i) for i in range(7)] == [
        "rate_limit",
        "server_error",
        "truncated",
        "cut_json",
        "html_error",
        "slow",
        None,
    ]
    assert plan.failures == 5


def test_every_picks_the_same_urls_whatever_the_order():
    plan = FaultPlan(rate_limit=1, every=3)
    targets = [f"/safebooru/index.php?page=dapi&s=post&q=index&pid={i}" for i in range(60)]
    picked = {t for t in targets if plan.picks("safebooru", t)}
    assert 5 < len(picked) < 40
    one, two = FaultInjector(plan), FaultInjector(plan)
    first = {t for t in targets if one.decide("safebooru", t, None)}
    second = {t for t in reversed(targets) if two.decide("safebooru", t, None)}
    assert first == second == picked


def test_sites_filter_and_robots_are_left_alone():
    with start_sample_site(posts=30, faults=FaultPlan(rate_limit=5, sites=("bangumi",))) as site:
        assert fetch(posts_url(site))[0] == 200
        assert fetch(site.url_for("bangumi") + "/v0/subjects/100000")[0] == 429
        assert fetch(site.url_for("bangumi") + "/robots.txt")[0] == 200
        assert fetch(site.base_url + "/robots.txt")[0] == 200
        assert site.faults.injected == {"rate_limit": 1}
        assert site.requests["safebooru"] == 1 and site.requests["bangumi"] == 2


def test_a_request_can_ask_for_its_own_fault(sample_site):
    url = posts_url(sample_site)
    assert fetch(url + "&fault=rate_limit")[0] == 429
    assert fetch(url + "&fault=rate_limit")[0] == 429  # without a count it fires every time
    assert [fetch(url + "&fault=server_error:1")[0] for _ in range(2)] == [503, 200]
    status, headers, _ = fetch(url, headers={"X-Sample-Fault": "html_error"})
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert sample_site.faults.injected == {"rate_limit": 2, "server_error": 1, "html_error": 1}
    # The fault parameter is not passed on: the answer is the plain page's.
    assert json.loads(fetch(url + "&fault=slow")[2]) == json.loads(fetch(url)[2])


SCRAPY_WALK = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess

base, out = sys.argv[1], sys.argv[2]
seen = []

class Walk(scrapy.Spider):
    name = "walk"

    async def start(self):
        yield scrapy.Request(base + "/index.php?page=dapi&s=post&q=index&json=1&limit=100&tags=sort:id:desc")

    def parse(self, response):
        if not response.body:
            return
        posts = json.loads(response.text)
        seen.extend(p["id"] for p in posts)
        cursor = posts[-1]["id"]
        yield scrapy.Request(f"{base}/index.php?page=dapi&s=post&q=index&json=1&limit=100&tags=sort:id:desc+id:<{cursor}")

process = CrawlerProcess({
    "LOG_LEVEL": "ERROR", "ROBOTSTXT_OBEY": True, "RETRY_TIMES": 5,
    "RETRY_HTTP_CODES": [429, 500, 502, 503], "TELNETCONSOLE_ENABLED": False,
})
process.crawl(Walk)
process.start()
with open(out, "w") as f:
    json.dump(seen, f)
"""


def test_scrapy_retries_through_every_fault_and_gets_every_post(tmp_path):
    """Scrapy's own downloader and RetryMiddleware against the faults: every post arrives, once."""
    import subprocess
    import sys

    script, out = tmp_path / "walk.py", tmp_path / "ids.json"
    script.write_text(SCRAPY_WALK, encoding="utf-8")
    plan = FaultPlan(rate_limit=1, server_error=1, truncated=1, retry_after=0, every=2)
    with start_sample_site(posts=300, faults=plan) as site:
        subprocess.run([sys.executable, str(script), site.url_for("safebooru"), str(out)], check=True, timeout=120)
        picked = site.faults.injected["rate_limit"]
        assert picked >= 1 and site.faults.injected == {
            "rate_limit": picked,
            "server_error": picked,
            "truncated": picked,
        }
        ids = json.loads(out.read_text())
        assert ids == sorted((p.id for p in site.world.posts), reverse=True)


def test_command_line_server_starts_and_stops():
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "acg2vec.sample_site", "--port", "0", "--posts", "20"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        assert first.startswith("safebooru")
        url = first.split()[-1]
        assert fetch(url + "/robots.txt")[0] == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_published_rate_limit_can_be_enforced():
    with start_sample_site(posts=10, rate_limits={"jikan": 3}) as site:
        url = site.url_for("jikan") + "/anime?page=1"
        answers = [fetch(url) for _ in range(5)]
        assert [a[0] for a in answers[:3]] == [200, 200, 200]
        assert answers[3][0] == 429 and json.loads(answers[3][2])["type"] == "RateLimitException"
        assert answers[3][1]["retry-after"] == "1"
        assert site.rate_limited["jikan"] >= 1
        assert fetch(posts_url(site))[0] == 200  # other sites are not limited
        time.sleep(1.05)
        assert fetch(url)[0] == 200
