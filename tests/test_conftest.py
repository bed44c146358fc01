"""The test harness itself: the internet is blocked, loopback works."""

from __future__ import annotations

import socket
import urllib.request

import pytest

pytestmark = pytest.mark.unit


def test_internet_is_blocked_but_loopback_works(local_http_server, tmp_path):
    with pytest.raises(RuntimeError, match="offline"):
        socket.create_connection(("93.184.216.34", 80), timeout=1)
    (tmp_path / "hello.txt").write_text("hi")
    base = local_http_server(directory=tmp_path)
    assert urllib.request.urlopen(f"{base}/hello.txt", timeout=5).read() == b"hi"
