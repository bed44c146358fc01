"""The base of acg2vec's API spiders (Bangumi, MediaWiki, Jikan): base URL joining, limits, counted drops.

Every page a spider cannot use (a broken body, an API error, an HTTP error after retries, a page it skips on
purpose) goes through :meth:`ApiSpider.drop`: logged with its URL, counted under ``acg2vec/bad_input/<reason>``
and written to the crawl's dead-letter file, and the crawl goes on. A page whose body is unusable (empty, an
HTML error page with status 200, cut JSON) is first retried with backoff, like an HTTP error
(:func:`json_callback`).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from twisted.python.failure import Failure

from acg2vec.crawlers.feeds import BAD_INPUT, bookkeeping
from acg2vec.crawlers.middlewares import DELAY_META, backoff_seconds
from acg2vec.crawlers.spider_args import SpiderArgs, parse_args

PAGE_RETRIES_META = "acg2vec_page_retries"


@dataclass(frozen=True)
class ApiArgs(SpiderArgs):
    """The arguments every API spider takes."""

    base_url: str | None = None  # may carry a path prefix: http://127.0.0.1:8000/bangumi; None: the site's own
    limit: int | None = None  # items at most (what an item is depends on the spider); None or 0: no limit
    page_retries: int = 3  # retries of a page whose body is unusable (HTTP errors are retried by the middleware)

    def check(self) -> None:
        super().check()
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must be 0 (no limit) or more, not {self.limit}")
        if self.page_retries < 0:
            raise ValueError(f"page_retries must be 0 or more, not {self.page_retries}")


class ApiSpider(scrapy.Spider):
    """The base of the API spiders: its keyword arguments are parsed once into ``self.args`` (its ``Args``)."""

    Args: ClassVar[type[ApiArgs]] = ApiArgs
    default_base_url: str = ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.args = parse_args(self.Args, kwargs, spider=self.name)
        self.base_url = (self.args.base_url or self.site_url()).rstrip("/")
        if not self.base_url:
            raise ValueError(f"{self.name}: give a base_url")
        self.limit = self.args.limit or None

    def site_url(self) -> str:
        """The base URL when none is given (a spider whose site depends on its arguments overrides it)."""
        return self.default_base_url

    def join(self, path: str) -> str:
        """The base URL with ``path`` appended (the base's own path prefix is kept)."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def limit_reached(self, done: int) -> bool:
        return self.limit is not None and done >= self.limit

    # -- progress that survives a stop and resume (Scrapy keeps ``spider.state`` in JOBDIR) -----------------

    def tally(self, name: str) -> int:
        return getattr(self, "state", {}).get(name, 0)

    def add_tally(self, name: str, n: int = 1) -> None:
        if not hasattr(self, "state"):
            self.state = {}
        self.state[name] = self.tally(name) + n

    def request(self, url: str, callback: Any, *, errback: Any = None, **cb_kwargs: Any) -> scrapy.Request:
        """A request whose HTTP / network failure is counted (after retries) instead of only logged.

        ``errback`` replaces :meth:`on_error` when a failure should still yield something (it calls ``on_error``).
        """
        return scrapy.Request(url, callback=callback, errback=errback or self.on_error, cb_kwargs=cb_kwargs)

    # -- counting -----------------------------------------------------------------------------------------

    def count(self, key: str, n: int = 1) -> None:
        """A plain counter in the crawl stats (``acg2vec/<key>``), for things that are not drops."""
        crawler = getattr(self, "crawler", None)
        if crawler is not None:
            crawler.stats.inc_value(f"acg2vec/{key}", n)

    def drop(
        self, reason: str, *, url: str | None, detail: str = "", record: Any = None, expected: bool = False
    ) -> None:
        """Log, count and dead-letter one unusable page or record; the crawl goes on.

        ``expected``: a page skipped on purpose (a talk page, a disambiguation page), logged at INFO not WARNING.
        """
        self.logger.log(logging.INFO if expected else logging.WARNING, "dropped (%s) %s %s", reason, url or "", detail)
        crawler = getattr(self, "crawler", None)
        if crawler is not None:
            bookkeeping(crawler).add(reason, record, url=url, detail=detail, prefix=BAD_INPUT)

    def on_error(self, failure: Failure) -> None:
        """Errback: an HTTP error status (after retries) or a network failure, counted by kind."""
        request = failure.request
        response = getattr(failure.value, "response", None)
        if response is None and isinstance(failure.value, IgnoreRequest):
            # Refused before any network traffic (robots.txt, a file host guard): not a network error.
            # (An HTTP error status is an IgnoreRequest too, but one with a response.)
            robots = "robots.txt" in str(failure.value)
            self.drop("forbidden-by-robots" if robots else "request-refused", url=request.url,
                      detail=failure.getErrorMessage())  # fmt: skip
        elif response is not None:
            self.drop(f"http-{response.status}", url=request.url, detail=failure.getErrorMessage())
        else:
            self.drop("network-error", url=request.url, detail=f"{failure.type.__name__}: {failure.getErrorMessage()}")

    def retry_page(
        self, response: Response, reason: str, *, detail: str = "", record: Any = None
    ) -> scrapy.Request | None:
        """A retry (with backoff) of a page whose body was unusable, or None once retries are spent (then dropped)."""
        tries = response.meta.get(PAGE_RETRIES_META, 0) + 1
        if tries <= self.args.page_retries:
            self.logger.info("retrying %s (%s), attempt %d", response.url, reason, tries)
            self.count(f"page_retries/{reason}")
            base = self.settings.getfloat("ACG2VEC_BACKOFF_BASE", 1.0) if hasattr(self, "crawler") else 1.0
            meta = {PAGE_RETRIES_META: tries, DELAY_META: backoff_seconds(tries, base=base, cap=60.0)}
            return response.request.replace(dont_filter=True, meta=meta)
        self.drop(reason, url=response.url, detail=detail, record=record)
        return None


def decode_json(body: bytes) -> tuple[Any, str | None, str]:
    """``(data, None, "")`` for a JSON body, or ``(None, reason, detail)`` for an empty, HTML or broken one."""
    if not body.strip():
        return None, "empty-body", ""
    if body.lstrip()[:1] == b"<":
        # Some sites answer an error with an HTML page and status 200.
        return None, "html-instead-of-json", body[:200].decode("utf-8", "replace")
    try:
        return json.loads(body), None, ""
    except ValueError as err:
        return None, "bad-json", str(err)


def json_callback(method: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """Decorate a callback ``(self, response, data, **cb_kwargs)`` that takes the response's JSON as ``data``.

    An unusable body (empty, an HTML error page with status 200, cut or broken JSON) is retried with backoff
    (``page_retries`` times, an argument of every API spider); once retries are spent it is counted and dead-lettered, and the callback is
    called with ``data=None`` so it can still yield what it knows.
    """

    @functools.wraps(method)
    def wrapper(self: ApiSpider, response: Response, **kwargs: Any) -> Iterator[Any]:
        data, reason, detail = decode_json(response.body)
        if reason is not None:
            retry = self.retry_page(response, reason, detail=detail, record=response.body[:500])
            if retry is not None:
                yield retry
                return
        yield from method(self, response, data, **kwargs) or ()

    return wrapper
