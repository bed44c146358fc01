"""Downloader middlewares of acg2vec crawls.

:class:`BackoffRetryMiddleware` replaces Scrapy's RetryMiddleware (same settings: ``RETRY_TIMES``,
``RETRY_HTTP_CODES``, ``RETRY_EXCEPTIONS``) and waits before each retry: the server's ``Retry-After`` on
429 / 503 when it gives one, else an exponential backoff with jitter (``ACG2VEC_BACKOFF_BASE`` doubled per
attempt), never longer than ``ACG2VEC_BACKOFF_MAX``. The wait happens in ``process_request`` of the retried
request; a Retry-After also spaces out the other requests to that host (its download slot) for that long.
"""

from __future__ import annotations

import logging
import random
import time
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Request, Response
from scrapy.utils.response import response_status_message

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
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
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
