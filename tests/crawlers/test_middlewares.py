"""The backoff retry middleware: Retry-After parsing, exponential backoff, the retried request's wait."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from scrapy import Spider
from scrapy.http import Request, Response
from scrapy.utils.test import get_crawler
from twisted.internet.error import ConnectionRefusedError

from acg2vec.crawlers.middlewares import DELAY_META, BackoffRetryMiddleware, backoff_seconds, retry_after_seconds

pytestmark = pytest.mark.unit


def test_retry_after_in_seconds_or_as_an_http_date():
    assert retry_after_seconds(b"7") == 7.0
    assert retry_after_seconds(" 2.5 ") == 2.5
    now = datetime(2026, 1, 1, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(date, now=now.timestamp()) == pytest.approx(30.0)
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now.timestamp()) == 0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds(b"") is None
    assert retry_after_seconds("soon") is None


def test_backoff_doubles_per_attempt_up_to_the_cap():
    rng = random.Random(0)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 10.0)):
        waits = [backoff_seconds(attempt, base=1.0, cap=10.0, rng=rng) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)


def middleware(**settings) -> BackoffRetryMiddleware:
    crawler = get_crawler(
        Spider, {"RETRY_TIMES": 2, "ACG2VEC_BACKOFF_BASE": 0.5, "ACG2VEC_BACKOFF_MAX": 20, **settings}
    )
    crawler.spider = Spider.from_crawler(crawler, name="t")
    return BackoffRetryMiddleware.from_crawler(crawler)


def test_429_with_retry_after_is_retried_after_that_wait():
    mw = middleware()
    req = Request("http://127.0.0.1/x")
    retry = mw.process_response(req, Response(req.url, status=429, headers={"Retry-After": "3"}, request=req))
    assert isinstance(retry, Request) and retry.meta[DELAY_META] == 3.0 and retry.dont_filter
    assert mw.crawler.stats.get_value("acg2vec/retry_after_honoured") == 1
    # A Retry-After beyond the cap is cut to the cap.
    retry = mw.process_response(req, Response(req.url, status=503, headers={"Retry-After": "3600"}, request=req))
    assert retry.meta[DELAY_META] == 20


def test_5xx_without_retry_after_backs_off_exponentially_then_gives_up():
    mw = middleware()
    req = Request("http://127.0.0.1/x")
    first = mw.process_response(req, Response(req.url, status=500, request=req))
    assert 0.25 <= first.meta[DELAY_META] <= 0.5
    second = mw.process_response(first, Response(req.url, status=502, request=first))
    assert 0.5 <= second.meta[DELAY_META] <= 1.0
    final = Response(req.url, status=500, request=second)
    assert mw.process_response(second, final) is final  # RETRY_TIMES reached: the error goes to the spider
    assert mw.crawler.stats.get_value("retry/max_reached") == 1


def test_network_errors_are_retried_and_other_statuses_pass():
    mw = middleware()
    req = Request("http://127.0.0.1/x")
    retry = mw.process_exception(req, ConnectionRefusedError())
    assert isinstance(retry, Request) and DELAY_META in retry.meta
    ok = Response(req.url, status=404, request=req)
    assert mw.process_response(req, ok) is ok
    assert (
        mw.process_exception(Request("http://127.0.0.1/y", meta={"dont_retry": True}), ConnectionRefusedError())
        is None
    )


def png_bytes() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.effect_noise((32, 32), 40).save(buf, "PNG")
    return buf.getvalue()


def test_a_file_body_that_is_not_the_file_is_retried_like_an_http_error():
    import hashlib

    from acg2vec.crawlers.pipelines import EXPECTED_MD5_META, FILE_META

    mw = middleware()
    body = png_bytes()
    meta = {FILE_META: True, EXPECTED_MD5_META: hashlib.md5(body).hexdigest()}
    req = Request("http://127.0.0.1/images/1/a.png", meta=meta)
    html = mw.process_response(req, Response(req.url, body=b"<!DOCTYPE html><html>busy</html>", request=req))
    assert isinstance(html, Request) and DELAY_META in html.meta
    cut = mw.process_response(html, Response(req.url, body=body[: len(body) // 2], request=html))
    assert isinstance(cut, Request)
    last = Response(req.url, body=body[:10], request=cut)
    assert mw.process_response(cut, last) is last  # retries spent: the files pipeline dead-letters it
    whole = Response(req.url, body=body, request=req)
    assert mw.process_response(req, whole) is whole
    stats = mw.crawler.stats
    assert stats.get_value("acg2vec/file_retries/not-an-image") == 1
    assert stats.get_value("acg2vec/file_retries/checksum-mismatch") == 1
    # A page (not a file request) is the spider's to judge.
    page = Request("http://127.0.0.1/index.php")
    html_page = Response(page.url, body=b"<html></html>", request=page)
    assert mw.process_response(page, html_page) is html_page


@pytest.mark.parametrize(
    ("site", "file_host", "refused"),
    [
        ("http://93.184.216.34", "127.0.0.1", True),
        ("http://93.184.216.34", "localhost", True),
        ("http://93.184.216.34", "10.1.2.3", True),
        ("http://93.184.216.34", "192.168.0.10", True),
        ("http://93.184.216.34", "169.254.169.254", True),  # the cloud metadata address
        ("http://93.184.216.34", "[::1]", True),
        ("http://93.184.216.34", "[::ffff:127.0.0.1]", True),
        ("http://93.184.216.34", "0.0.0.0", True),
        ("http://93.184.216.34", "93.184.216.35", False),
        ("http://127.0.0.1:8000/safebooru", "127.0.0.1", False),  # a local site may name local file hosts
        ("http://localhost:8000", "10.1.2.3", False),
    ],
)
def test_file_hosts_of_a_public_site_must_be_public(site, file_host, refused):
    from acg2vec.crawlers.middlewares import FileHostGuardMiddleware, HostRefused
    from acg2vec.crawlers.pipelines import FILE_META

    crawler = get_crawler(Spider, {})
    crawler.spider = Spider.from_crawler(crawler, name="t")
    crawler.spider.base_url = site
    guard = FileHostGuardMiddleware.from_crawler(crawler)
    req = Request(f"http://{file_host}/images/1/a.png", meta={FILE_META: True})
    if refused:
        with pytest.raises(HostRefused, match="host-refused"):
            guard.process_request(req)
        assert crawler.stats.get_value("acg2vec/file_hosts_refused") == 1
    else:
        assert guard.process_request(req) is None
    # Pages are not file downloads: the spider only follows its own site.
    assert guard.process_request(Request(f"http://{file_host}/index.php")) is None
