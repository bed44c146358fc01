"""The outer ASGI layer: the body limit is enforced while the body streams in; the API key; request metrics."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from acg2vec.serving.guard import Guard
from acg2vec.serving.metrics import Metrics

pytestmark = pytest.mark.unit

MB = 1024 * 1024


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/echo")
    async def echo(request: Request) -> dict:
        return {"bytes": len(await request.body())}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def call(guard: Guard, scope: dict, chunks):
    """Drive the ASGI app by hand: ``chunks`` is an iterator of body pieces; returns (status, body, pulled)."""
    sent, pulled = [], [0]

    async def receive():
        try:
            piece = next(chunks)
        except StopIteration:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled[0] += 1
        return {"type": "http.request", "body": piece, "more_body": True}

    async def send(message):
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled[0]


def scope(headers: list | None = None) -> dict:
    return {"type": "http", "method": "POST", "path": "/v1/echo", "headers": headers or [], "query_string": b"",
            "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 8000), "root_path": ""}  # fmt: skip


def test_a_body_without_length_is_cut_off_at_the_limit():
    def endless():
        while True:
            yield b"\0" * MB

    guard = Guard(echo_app(), metrics=Metrics(), max_body=20 * MB)
    status, body, pulled = call(guard, scope(), endless())
    assert status == 413 and "over the limit of 20 MB" in body["detail"]
    assert pulled == 21  # it stopped reading right after the limit, instead of reading the body whole


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    guard = Guard(echo_app(), metrics=Metrics(), max_body=20 * MB)
    status, body, pulled = call(guard, scope([(b"content-length", str(25 * MB).encode())]), iter([b"x"]))
    assert status == 413 and pulled == 0


def test_bodies_under_the_limit_pass_and_are_counted():
    metrics = Metrics()
    client = TestClient(Guard(echo_app(), metrics=metrics, max_body=MB))
    assert client.post("/v1/echo", content=b"x" * 1000).json() == {"bytes": 1000}
    assert client.post("/v1/echo", content=b"x" * (MB + 1)).status_code == 413
    assert client.get("/healthz").status_code == 200
    text = metrics.render().decode()
    assert 'acg2vec_http_requests_total{method="POST",route="/v1/echo",status="200"} 1.0' in text
    assert 'acg2vec_http_requests_total{method="POST",route="unmatched",status="413"} 1.0' in text


def test_the_api_key_is_checked_in_a_header():
    client = TestClient(Guard(echo_app(), metrics=Metrics(), max_body=MB, api_key="s3cret"))
    refused = client.post("/v1/echo", content=b"x")
    assert refused.status_code == 401 and "X-API-Key" in refused.json()["detail"]
    assert client.post("/v1/echo", content=b"x", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.post("/v1/echo", content=b"x", headers={"X-API-Key": "s3cret"}).json() == {"bytes": 1}
    assert client.get("/healthz").status_code == 200  # probes stay open
