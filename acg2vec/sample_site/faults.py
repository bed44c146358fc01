"""Faults the sample site injects on request: 429, bursts of 5xx, truncated bodies, slow answers, HTML errors.

Deterministic, so a test can count on them: a :class:`FaultPlan` picks URLs by a hash of their path and query
(independent of the order requests arrive in) and fails the first attempts at each picked URL, in a fixed order:
``rate_limit`` 429s, then ``server_error`` 5xx, ``truncated`` short bodies, ``cut_json`` cut bodies,
``html_error`` 200 pages; after those the URL answers normally (``slow`` attempts answer normally, late).
So a crawler that retries sees each picked URL succeed after exactly ``plan.failures`` failed attempts.

One request can also ask for a fault itself: the query parameter ``fault=<kind>`` (or the header
``X-Sample-Fault: <kind>``) fires on every such request; ``fault=<kind>:<n>`` only on the first ``n`` requests of that URL that ask for it.
"""

from __future__ import annotations

import threading
import zlib
from collections import Counter
from dataclasses import dataclass

FAULT_KINDS = ("rate_limit", "server_error", "truncated", "cut_json", "html_error", "slow")
SERVER_ERROR_STATUSES = (503, 502, 500)


@dataclass(slots=True)
class FaultPlan:
    """Which requests fail, and how often each picked URL fails before it answers."""

    rate_limit: int = 0  # 429 Too Many Requests with Retry-After
    retry_after: int = 1  # seconds, in the Retry-After header of 429 and 503 answers
    server_error: int = 0  # a burst of 503 / 502 / 500
    truncated: int = 0  # Content-Length larger than the body sent, then the connection is closed
    cut_json: int = 0  # the body cut in half, Content-Length matching it (valid HTTP, broken content)
    html_error: int = 0  # status 200 with an HTML error page instead of the content
    slow: int = 0  # answered normally after slow_seconds
    slow_seconds: float = 0.5
    every: int = 1  # a URL is picked when crc32(path?query) % every == 0; 1 picks every URL
    sites: tuple[str, ...] = ()  # only these sites ("safebooru", "bangumi", "wikipedia", ...); empty = all
    paths: tuple[str, ...] = ()  # only URLs containing one of these substrings; empty = all

    @property
    def failures(self) -> int:
        """Failed attempts before a picked URL answers (slow answers are not failures)."""
        return self.rate_limit + self.server_error + self.truncated + self.cut_json + self.html_error

    def picks(self, site: str, target: str) -> bool:
        """Whether this plan applies to ``target`` (path and query) of ``site``."""
        if self.sites and site not in self.sites:
            return False
        if self.paths and not any(p in target for p in self.paths):
            return False
        return zlib.crc32(target.encode("utf-8")) % max(1, self.every) == 0

    def fault_for_attempt(self, attempt: int) -> str | None:
        """The fault of the ``attempt``-th (0-based) request of a picked URL, or None."""
        for kind in FAULT_KINDS:
            count = getattr(self, kind)
            if attempt < count:
                return kind
            attempt -= count
        return None


class FaultInjector:
    """Decides the fault of each request and counts what it injected (thread-safe)."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan
        self._lock = threading.Lock()
        self._attempts: Counter[str] = Counter()
        self._bursts: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()  # fault kind -> times injected

    def decide(self, site: str, target: str, requested: str | None) -> str | None:
        """The fault for this request: asked for by the request itself, or from the plan; counted."""
        with self._lock:
            attempt = self._attempts[target]
            self._attempts[target] += 1
            kind: str | None = None
            if requested:
                # Counted per (URL, request) so earlier plain requests of the URL do not use up the count.
                asked = f"{target}#{requested}"
                asked_attempt = self._attempts[asked]
                self._attempts[asked] += 1
                name, _, limit = requested.partition(":")
                if name in FAULT_KINDS and (not limit.isdigit() or asked_attempt < int(limit)):
                    kind = name
            elif self.plan is not None and self.plan.picks(site, target):
                kind = self.plan.fault_for_attempt(attempt)
            if kind:
                self.injected[kind] += 1
            return kind

    def server_error_status(self, target: str) -> int:
        """The next status of a 5xx burst at ``target``: 503, 502, 500, 503, ..."""
        with self._lock:
            count = self._bursts[target]
            self._bursts[target] += 1
        return SERVER_ERROR_STATUSES[count % len(SERVER_ERROR_STATUSES)]

    def attempts(self, target: str) -> int:
        """How many requests reached ``target`` (path and query, without the fault parameter)."""
        with self._lock:
            return self._attempts[target]


def error_page(status: int, reason: str) -> bytes:
    """A plain HTML error page, as web servers in front of the sites send."""
    return (
        f"<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\n"
        f"<body><center><h1>{status} {reason}</h1></center><hr><center>nginx</center></body></html>\n"
    ).encode()


def maintenance_page() -> bytes:
    """The HTML page some sites answer with status 200 while they are overloaded."""
    return (
        b'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Temporarily unavailable</title></head>\n'
        b"<body><h1>We are temporarily unavailable</h1><p>The site is under heavy load or in maintenance. "
        b"Please try again in a few minutes.</p></body></html>\n"
    )
