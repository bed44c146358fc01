"""The outermost ASGI layer: API key, request body limit (streamed) and request metrics.

The body limit is enforced while the body streams in: a ``Content-Length`` over the limit is refused before a
byte is read, and a body without one is cut off as soon as it passes the limit, so an upload is never held
whole in memory first.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import time

from acg2vec.serving.metrics import Metrics

# Paths the page and the API docs need without a key, and the probes of an orchestrator.
OPEN_PATHS = ("/", "/healthz", "/readyz", "/favicon.ico", "/docs", "/docs/oauth2-redirect", "/openapi.json")
OPEN_PREFIXES = ("/static/",)


class BodyTooLarge(Exception):
    pass


async def send_json(send, status: int, body: dict, headers: list | None = None) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
            + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": payload})


class Guard:
    def __init__(self, app, *, metrics: Metrics, max_body: int, api_key: str | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        self.api_key = api_key

    def _too_large(self) -> dict:
        mib = self.max_body / (1024 * 1024)
        return {"detail": f"The request body is over the limit of {mib:g} MB; send a smaller image or text."}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500, "started": False}

        async def send_counted(message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        try:
            await self._handle(scope, receive, send_counted, status)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or ("static" if scope["path"].startswith("/static/") else "unmatched")
            self.metrics.observe_request(scope["method"], name, status["code"], time.perf_counter() - start)

    async def _handle(self, scope, receive, send, status) -> None:
        path = scope["path"]
        headers = dict(scope["headers"])
        if self.api_key and not (path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)):
            given = headers.get(b"x-api-key", b"").decode("latin-1")
            if not hmac.compare_digest(given, self.api_key):
                await send_json(
                    send, 401, {"detail": "Missing or wrong API key; send it in the X-API-Key header."},
                    [(b"www-authenticate", b"X-API-Key")],
                )  # fmt: skip
                return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await send_json(send, 400, {"detail": "The Content-Length header is not a number."})
                return
            if declared > self.max_body:
                await send_json(send, 413, self._too_large(), [(b"connection", b"close")])
                return
        seen = 0
        over = False

        async def limited_receive():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    over = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message) -> None:
            # The app may turn the cut-off body into an error of its own; the client hears why instead.
            if over:
                return
            await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if over and not status["started"]:
            await send_json(send, 413, self._too_large(), [(b"connection", b"close")])
