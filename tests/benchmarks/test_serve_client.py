"""benchmarks/serve.py's raw load generator: the prepared request bytes are valid HTTP/1.1 that a server parses,
replayed on one kept-alive connection; answers are read whole (status, Content-Length body)."""

from __future__ import annotations

import asyncio
import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.benchmarks.scripts import load_script


def _script():
    return load_script("serve")


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    seen: list = []

    def _answer(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 -- the handler's API
        url = urlsplit(self.path)
        self.seen.append(("GET", url.path, parse_qs(url.query), self.client_address[1], None))
        self._answer(200 if url.path == "/v1/works/search" else 404, {"results": ["x" * 5000]})

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["content-length"]))
        message = BytesParser(policy=HTTP).parsebytes(
            b"content-type: " + self.headers["content-type"].encode() + b"\r\n\r\n" + body
        )
        parts = {
            part.get_param("name", header="content-disposition"): part.get_content() for part in message.iter_parts()
        }
        self.seen.append(("POST", self.path, parts, self.client_address[1], self.headers["content-type"]))
        self._answer(200, {"tags": []})

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def server():
    Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_raw_requests_are_parsed_and_replayed_on_one_connection(server):
    bench = _script()
    image = bytes(range(256)) * 20

    async def run() -> list[int]:
        url = urlsplit(server)
        connection = bench.RawConnection(url.hostname, url.port)
        statuses = []
        for endpoint in ("works", "works", "tags", "tags"):
            statuses.append(await connection.send(bench.raw_request(server, endpoint, image, "涼宮ハルヒ")))
        connection.close()
        return statuses

    assert asyncio.run(run()) == [200, 200, 200, 200]
    assert [s[:2] for s in Recorder.seen] == [
        ("GET", "/v1/works/search"),
        ("GET", "/v1/works/search"),
        ("POST", "/v1/tags"),
        ("POST", "/v1/tags"),
    ]
    assert Recorder.seen[0][2] == {"q": ["涼宮ハルヒ"], "k": ["10"]}
    assert Recorder.seen[2][2]["file"] == image  # the multipart body carries the image bytes unchanged
    assert len({s[3] for s in Recorder.seen}) == 1  # one client port: the connection was kept alive


def test_raw_load_counts_answers_and_errors(server):
    bench = _script()
    request = bench.raw_request(server, "works", b"", "query")
    missing = request.replace(b"/v1/works/search", b"/v1/missing", 1)
    kwargs = {"clients": 2, "seconds": 0.5, "warmup": 0.1, "server_pid": None}
    ok = asyncio.run(bench.load_raw(server, request, **kwargs))
    assert ok["errors"] == 0 and ok["requests"] > 10 and ok["p50_ms"] > 0
    bad = asyncio.run(bench.load_raw(server, missing, **kwargs))
    assert bad["requests"] == 0 and bad["errors"] > 10


def test_round_figures_are_the_ratios_the_targets_name():
    bench = _script()
    on = {"rps": 300.0, "server_cpu_ms_per_request": 5.0, "client_cpu_ms_per_request": 0.1}
    off = {"rps": 100.0}
    f = bench.figures(on, off, (16, 400.0, 4.0))
    assert f["speedup"] == pytest.approx(3.0)
    assert f["overhead_wall"] == pytest.approx(0.25)  # 1 - 300 / 400
    assert f["overhead_cpu"] == pytest.approx(0.2)  # 1 - 4.0 / 5.0
    assert f["overhead_cpu_with_clients"] == pytest.approx(1 - 4.0 / 5.1)
    assert f["in_process_at_batch"] == {"batch": 16, "items_per_s": 400.0, "cpu_ms_per_item": 4.0}
