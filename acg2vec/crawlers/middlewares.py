"""Downloader middlewares of acg2vec crawls.

:class:`BackoffRetryMiddleware` replaces Scrapy's RetryMiddleware (same settings: ``RETRY_TIMES``,
``RETRY_HTTP_CODES``, ``RETRY_EXCEPTIONS``) and waits before each retry: the server's ``Retry-After`` on
429 / 503 when it gives one, else an exponential backoff with jitter (``ACG2VEC_BACKOFF_BASE`` doubled per
attempt), never longer than ``ACG2VEC_BACKOFF_MAX``. The wait happens in ``process_request`` of the retried
request; a Retry-After also spaces out the other requests to that host (its download slot) for that long.
A file download (a request of the files pipeline) whose body is not an image or fails its md5 (a body cut
short, an HTML page with status 200) is retried the same way, counted under ``acg2vec/file_retries/<reason>``;
once retries are spent the pipeline dead-letters it.

:class:`FileHostGuardMiddleware` keeps file downloads off private, loopback, link-local and other non-public
addresses (the host is resolved before the request) unless the crawled site itself is on such an address, so a
hostile page cannot point the crawler inward.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import socket
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.utils.response import response_status_message

from acg2vec.crawlers.pipelines import EXPECTED_MD5_META, FILE_META, file_body_problem

logger = logging.getLogger(__name__)

DELAY_META = "acg2vec_retry_delay"


def retry_after_seconds(value: bytes | str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date); None if absent or bad."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    text = text.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_seconds(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "full jitter" for retry number ``attempt`` (1 = first retry)."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, with a wait before each: Retry-After when given, else exponential backoff."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.base = settings.getfloat("ACG2VEC_BACKOFF_BASE", 1.0)
        self.cap = settings.getfloat("ACG2VEC_BACKOFF_MAX", 120.0)

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Request | Response:
        if request.meta.get("dont_retry", False):
            return response
        if response.status not in self.retry_http_codes:
            if request.meta.get(FILE_META) and response.status == 200:
                return self._check_file_body(request, response)
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        wait = None
        if response.status in (429, 503):
            wait = retry_after_seconds(response.headers.get(b"Retry-After"))
            if wait is not None:
                self.crawler.stats.inc_value("acg2vec/retry_after_honoured")
                self._slow_host(request, min(wait, self.cap))
        self._schedule_wait(retry, wait)
        return retry

    def process_exception(self, request: Request, exception: Exception, spider: Any = None) -> Request | None:
        if request.meta.get("dont_retry", False) or not isinstance(exception, self.exceptions_to_retry):
            return None
        retry = self._retry(request, exception)
        if retry is not None:
            self._schedule_wait(retry, None)
        return retry

    def _check_file_body(self, request: Request, response: Response) -> Request | Response:
        """A file body that is not what was asked for is retried like an HTTP error (the site may be overloaded)."""
        problem = file_body_problem(response.body, request.meta.get(EXPECTED_MD5_META))
        if problem is None:
            return response
        retry = self._retry(request, problem)
        if retry is None:
            return response  # retries spent: the files pipeline counts and dead-letters it
        self.crawler.stats.inc_value(f"acg2vec/file_retries/{problem}")
        self._schedule_wait(retry, None)
        return retry

    def _slow_host(self, request: Request, wait: float) -> None:
        """Space out every request to the host that asked us to wait (its download slot) for ``wait`` seconds.

        The slot's delay goes up to ``wait`` and back to what it was once the wait is over (AutoThrottle, when on,
        keeps adjusting it meanwhile)."""
        try:
            downloader = self.crawler.engine.downloader
        except (RuntimeError, AttributeError):  # no crawl running (a unit test of the middleware)
            return
        if wait <= 0:
            return
        slot = downloader.slots.get(downloader.get_slot_key(request))
        if slot is None or slot.delay >= wait:
            return
        from twisted.internet import reactor

        before = slot.delay
        slot.delay = wait
        self.crawler.stats.inc_value("acg2vec/host_slowed")

        def restore() -> None:
            if slot.delay == wait:
                slot.delay = before

        reactor.callLater(wait, restore)

    def _schedule_wait(self, retry: Request, wait: float | None) -> None:
        if wait is None:
            wait = backoff_seconds(retry.meta.get("retry_times", 1), base=self.base, cap=self.cap)
        retry.meta[DELAY_META] = min(wait, self.cap)

    async def process_request(self, request: Request, spider: Any = None) -> None:
        wait = request.meta.pop(DELAY_META, None)
        if wait:
            logger.debug("waiting %.2fs before retrying %s", wait, request.url)
            self.crawler.stats.inc_value("acg2vec/retry_wait_seconds", round(wait, 3))
            await _sleep(wait)
        return None


async def _sleep(seconds: float) -> None:
    from scrapy.utils.defer import maybe_deferred_to_future
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    await maybe_deferred_to_future(deferLater(reactor, seconds, lambda: None))


class HostRefused(IgnoreRequest):
    """A request to an address a crawl of a public site must not reach; ``reason`` names why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def non_public(address: str) -> bool:
    """Whether ``address`` (an IP literal) is private, loopback, link-local, reserved, multicast or unspecified."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return not ip.is_global or ip.is_multicast


def resolve(host: str) -> list[str]:
    """The addresses ``host`` resolves to (an IP literal to itself); empty when it does not resolve."""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({info[4][0] for info in infos})


class FileHostGuardMiddleware:
    """File downloads only from public addresses, unless the crawled site is itself local (a sample site, a mirror).

    Applies to the files pipeline's requests (the hosts a site names for its files may be anywhere); each host is
    resolved once per crawl. A refused file is counted and dead-lettered as ``file-host-refused``.
    """

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self._verdicts: dict[str, bool] = {}

    @classmethod
    def from_crawler(cls, crawler: Any) -> FileHostGuardMiddleware:
        return cls(crawler)

    def _local(self, host: str) -> bool:
        if host not in self._verdicts:
            addresses = resolve(host)
            self._verdicts[host] = bool(addresses) and any(non_public(a) for a in addresses)
        return self._verdicts[host]

    def site_is_local(self) -> bool:
        spider = getattr(self.crawler, "spider", None)
        base = getattr(spider, "base_url", None) or ""
        host = urlparse(base).hostname
        return host is not None and self._local(host)

    def process_request(self, request: Request, spider: Any = None) -> None:
        if not request.meta.get(FILE_META):
            return None
        host = urlparse(request.url).hostname or ""
        if not host or self.site_is_local() or not self._local(host):
            return None
        self.crawler.stats.inc_value("acg2vec/file_hosts_refused")
        raise HostRefused("host-refused", f"{host} is not a public address and the crawled site is public")
