"""The sample site: one local HTTP server, one path prefix per site, all drawn from one generated world.

    with start_sample_site(seed=0, posts=300) as site:
        site.url_for("safebooru")      # http://127.0.0.1:PORT/safebooru
        site.world.posts[0].tags       # the exact tags of the first post's picture

Prefixes: ``/safebooru``, ``/bangumi``, ``/wikipedia/{zh,ja,en}``, ``/moegirl``, ``/jikan/v4``, ``/mal``;
``/robots.txt`` at the root covers them all (robots.txt is per host). Faults are injected per
:class:`~acg2vec.sample_site.faults.FaultPlan` and counted in ``site.faults.injected``.
"""

from __future__ import annotations

import functools
import http.server
import json
import logging
import threading
import time
from collections import Counter, deque
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

from acg2vec.sample_site.bangumi import BangumiSite
from acg2vec.sample_site.booru import BooruSite
from acg2vec.sample_site.faults import (
    FaultInjector,
    FaultPlan,
    error_page,
    maintenance_page,
)
from acg2vec.sample_site.illustrations import ImageCache
from acg2vec.sample_site.jikan import JikanSite, MalPages
from acg2vec.sample_site.mediawiki import MediaWikiSite
from acg2vec.sample_site.messages import Request, Response, not_found, text_response
from acg2vec.sample_site.pixiv import write_pixiv_exports
from acg2vec.sample_site.world import World, WorldConfig, generate_world

logger = logging.getLogger(__name__)

SITES = ("safebooru", "bangumi", "wikipedia/zh", "wikipedia/ja", "wikipedia/en", "moegirl", "jikan", "mal")
# url_for() names -> path prefix under the server root.
_PREFIXES = {
    "safebooru": "/safebooru",
    "bangumi": "/bangumi",
    "wikipedia/zh": "/wikipedia/zh",
    "wikipedia/ja": "/wikipedia/ja",
    "wikipedia/en": "/wikipedia/en",
    "moegirl": "/moegirl",
    "jikan": "/jikan/v4",
    "animelist": "/jikan/v4",
    "mal": "/mal",
}

ROOT_ROBOTS_TXT = """# acg2vec sample site: API paths are open to crawlers; these are not.
User-agent: *
Disallow: /safebooru/index.php?page=account
Disallow: /safebooru/index.php?page=favorites
Disallow: /private/
Disallow: /moegirl/index.php?title=Special:
"""


@functools.lru_cache(maxsize=4)
def _shared_world(seed: int, posts: int) -> tuple[World, ImageCache]:
    """One world and image cache per (seed, posts) in a process: servers started again reuse drawn files."""
    return generate_world(WorldConfig(seed=seed, posts=posts)), ImageCache()


class SiteHandler(Protocol):
    def handle(self, request: Request) -> Response: ...


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a crawler opening many connections at once overflows it, and
    # dropped SYNs are only retried after 1, 3, 7... seconds, which a client sees as download timeouts.
    request_queue_size = 128
    sample_site: SampleSite


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "acg2vec-sample-site/1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        self.server.sample_site.serve(self)

    def do_HEAD(self) -> None:  # noqa: N802
        self.server.sample_site.serve(self, head=True)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        logger.debug("%s " + format, self.address_string(), *args)


class SampleSite:
    """The sample site's world, its per-site handlers, fault injection and (once started) its HTTP server."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        posts: int = 300,
        faults: FaultPlan | None = None,
        max_offset: int = 200,
        rate_limits: dict[str, float] | None = None,
        world: World | None = None,
    ) -> None:
        self.host = host
        self.port = port
        if world is None:
            self.world, self.images = _shared_world(seed, posts)
        else:
            self.world, self.images = world, ImageCache()
        self.faults = FaultInjector(faults)
        self.requests: Counter[str] = Counter()  # site -> requests received
        self.user_agents: dict[str, Counter[str]] = {}  # site -> User-Agent header -> requests
        # Site -> requests per second it accepts (e.g. {"jikan": 3}, Jikan's published limit); more answer 429.
        self.rate_limits = dict(rate_limits or {})
        self.rate_limited: Counter[str] = Counter()  # site -> requests refused by rate_limits
        self._recent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.max_offset = max_offset
        # Handlers are built on first use: a test that needs one site does not pay for the others.
        self._handlers: dict[str, SiteHandler] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def handler(self, site: str) -> SiteHandler:
        """The handler of one site ("safebooru", "bangumi", "wikipedia/zh", ...), built on first use."""
        with self._lock:
            found = self._handlers.get(site)
            if found is None:
                found = self._handlers[site] = self._make_handler(site)
            return found

    def _make_handler(self, site: str) -> SiteHandler:
        if site == "safebooru":
            return BooruSite(self.world, self.images, max_offset=self.max_offset)
        if site == "bangumi":
            return BangumiSite(self.world)
        if site.startswith("wikipedia/") or site == "moegirl":
            return MediaWikiSite(self.world, wiki=site.removeprefix("wikipedia/"))
        if site == "jikan":
            return JikanSite(self.world)
        if site == "mal":
            return MalPages(self.world)
        raise ValueError(f"unknown site {site!r}")

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> SampleSite:
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler)
        server.sample_site = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sample-site", daemon=True
        )
        self._thread.start()
        logger.info("sample site serving at %s", self.base_url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> SampleSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for ``python -m acg2vec.sample_site``)."""
        self.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # ------------------------------------------------------------------------------------------ addresses

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_for(self, site: str) -> str:
        """Base URL of one site: "safebooru", "bangumi", "wikipedia/zh" (ja, en), "moegirl", "jikan", "mal"."""
        try:
            return self.base_url + _PREFIXES[site]
        except KeyError:
            raise ValueError(f"unknown site {site!r}; known: {', '.join(_PREFIXES)}") from None

    @property
    def urls(self) -> dict[str, str]:
        """Base URL per site."""
        return {name: self.url_for(name) for name in SITES}

    # ------------------------------------------------------------------------------------------ exports

    def write_pixiv_exports(self, directory: str | Path) -> list[Path]:
        """Write the pixiv AJAX illust bodies of the posts with a pixiv source into ``directory``."""
        return write_pixiv_exports(self.world, directory)

    # ------------------------------------------------------------------------------------------ serving

    def _route(self, path: str) -> tuple[str, str, str] | None:
        """(site key, prefix, rest of path) for a request path."""
        for key in ("wikipedia/zh", "wikipedia/ja", "wikipedia/en", "jikan", "safebooru", "bangumi", "moegirl", "mal"):
            prefix = _PREFIXES[key]
            if path == prefix or path.startswith(prefix + "/"):
                return key, prefix, path[len(prefix) :] or "/"
        return None

    def respond(self, path_and_query: str, headers: dict[str, str] | None = None) -> tuple[Response, str | None]:
        """The answer to one GET (before it is written), and the fault chosen for it."""
        headers = headers or {}
        split = urlsplit(path_and_query)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        requested_fault = headers.get("x-sample-fault")
        query: dict[str, str] = {}
        for name, value in pairs:
            if name == "fault":
                requested_fault = value
            else:
                query.setdefault(name, value)
        clean_query = urlencode([(n, v) for n, v in pairs if n != "fault"])
        target = split.path + ("?" + clean_query if clean_query else "")
        if split.path == "/robots.txt":
            return text_response(ROOT_ROBOTS_TXT), None
        if split.path in ("/", ""):
            return self._index_page(), None
        routed = self._route(split.path)
        if routed is None:
            return not_found(), None
        site, prefix, rest = routed
        with self._lock:
            self.requests[site.split("/")[0]] += 1
            agents = self.user_agents.setdefault(site.split("/")[0], Counter())
            agents[headers.get("user-agent", "")] += 1
        if self._over_rate_limit(site.split("/")[0]):
            return self._rate_limited_response(site), None
        fault = None
        if not rest.endswith("robots.txt"):
            fault = self.faults.decide(site.split("/")[0], target, requested_fault)
        host = headers.get("host") or f"{self.host}:{self.port}"
        request = Request(path=rest, query=query, headers=headers, base_url=f"http://{host}{prefix}")
        if fault in ("rate_limit", "server_error", "html_error"):
            return self._fault_response(fault, target), fault
        try:
            response = self.handler(site).handle(request)
        except Exception:  # a bug in a handler must not kill the server thread; answer 500 as a site would
            logger.exception("sample site handler failed for %s", target)
            response = Response(status=500, body=error_page(500, "Internal Server Error"), content_type="text/html")
        return response, fault

    def _over_rate_limit(self, site: str) -> bool:
        """Whether this request exceeds the site's requests-per-second limit (one-second sliding window)."""
        limit = self.rate_limits.get(site)
        if not limit:
            return False
        now = time.monotonic()
        with self._lock:
            recent = self._recent.setdefault(site, deque())
            while recent and now - recent[0] >= 1.0:
                recent.popleft()
            if len(recent) >= limit:
                self.rate_limited[site] += 1
                return True
            recent.append(now)
            return False

    def _rate_limited_response(self, site: str) -> Response:
        if site == "jikan":
            body = {
                "status": 429,
                "type": "RateLimitException",
                "message": "You are being rate limited by Jikan or MyAnimeList is rate-limiting our servers.",
                "error": None,
            }
            return Response(status=429, body=json.dumps(body).encode(), headers={"Retry-After": "1"})
        return Response(
            status=429,
            body=error_page(429, "Too Many Requests"),
            content_type="text/html",
            headers={"Retry-After": "1"},
        )

    def _fault_response(self, fault: str, target: str) -> Response:
        retry_after = str(self.faults.plan.retry_after if self.faults.plan else 1)
        if fault == "rate_limit":
            return Response(
                status=429,
                body=error_page(429, "Too Many Requests"),
                content_type="text/html",
                headers={"Retry-After": retry_after},
            )
        if fault == "server_error":
            status = self.faults.server_error_status(target)
            reason = {503: "Service Temporarily Unavailable", 502: "Bad Gateway", 500: "Internal Server Error"}[status]
            headers = {"Retry-After": retry_after} if status == 503 else {}
            return Response(status=status, body=error_page(status, reason), content_type="text/html", headers=headers)
        return Response(status=200, body=maintenance_page(), content_type="text/html; charset=utf-8")

    def serve(self, handler: _Handler, *, head: bool = False) -> None:
        """Answer one request on ``handler``'s connection, applying the body faults."""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        response, fault = self.respond(handler.path, headers)
        body = response.body
        declared = len(body)
        if fault == "slow":
            time.sleep(self.faults.plan.slow_seconds if self.faults.plan else 0.5)
        elif fault == "truncated":
            body = body[: len(body) // 2]  # Content-Length stays the full size: the client sees data loss
            handler.close_connection = True
        elif fault == "cut_json":
            body = body[: len(body) // 2]
            declared = len(body)
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(declared))
        for name, value in response.headers.items():
            handler.send_header(name, value)
        if fault == "truncated":
            handler.send_header("Connection", "close")
        handler.end_headers()
        if not head:
            try:
                handler.wfile.write(body)
                handler.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                handler.close_connection = True

    def _index_page(self) -> Response:
        links = "".join(f'<li><a href="{self.url_for(s)}">{s}</a></li>' for s in SITES)
        html = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>acg2vec sample site</title></head><body>"
            f"<h1>acg2vec sample site</h1><p>seed {self.world.config.seed}, {len(self.world.posts)} posts, "
            f"{len(self.world.works)} works</p><ul>{links}</ul></body></html>"
        )
        return text_response(html, content_type="text/html; charset=utf-8")


def start_sample_site(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 0,
    posts: int = 300,
    faults: FaultPlan | None = None,
    max_offset: int = 200,
    rate_limits: dict[str, float] | None = None,
) -> SampleSite:
    """Start the sample site in a background thread (port 0 picks a free port); call ``.stop()`` when done."""
    return SampleSite(
        host=host, port=port, seed=seed, posts=posts, faults=faults, max_offset=max_offset, rate_limits=rate_limits
    ).start()
