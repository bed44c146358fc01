"""Shared test fixtures: offline guard, a temporary workdir, a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import ipaddress
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import system_packages

# Before anything imports a hub client: never reach a model hub from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TFDS_DISABLE_GCS", "1")
os.environ.setdefault("NO_GCE_CHECK", "true")

SHARED_FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real"


class InternetAccessError(RuntimeError):
    """Raised when a test tries to open a connection to anything but this machine."""


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    if not isinstance(address, tuple) or not address:
        return False
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_create_connection = socket.create_connection


def _guarded_connect(self: socket.socket, address: object) -> object:
    if not _is_local(address):
        raise InternetAccessError(f"tests must stay offline; tried to connect to {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_local(address):
        raise InternetAccessError(f"tests must stay offline; tried to connect to {address!r}")
    return _real_connect_ex(self, address)


def _guarded_create_connection(address: tuple, *args: object, **kwargs: object) -> socket.socket:
    if not _is_local(address):
        raise InternetAccessError(f"tests must stay offline; tried to connect to {address!r}")
    return _real_create_connection(address, *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.create_connection = _guarded_create_connection  # type: ignore[assignment]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``system_package(cmd)`` fails in CI without it and is skipped, with the sentence, elsewhere."""
    known = system_packages.read_list()
    for marker in item.iter_markers("system_package"):
        package = known[marker.args[0]]
        if system_packages.find(package.command) is None:
            if system_packages.in_ci():
                pytest.fail(package.missing_sentence() + " CI installs every listed package.", pytrace=False)
            pytest.skip(package.missing_sentence())


def pytest_terminal_summary(terminalreporter: object, exitstatus: int, config: pytest.Config) -> None:
    skipped = terminalreporter.stats.get("skipped", [])  # type: ignore[attr-defined]
    missing = [report for report in skipped if system_packages.SKIP_PREFIX in str(report.longrepr)]
    if missing:
        terminalreporter.write_line(  # type: ignore[attr-defined]
            f"{len(missing)} test(s) skipped because a system package is missing (see system-packages.txt; "
            "`make test` installs them as root)",
            yellow=True,
        )


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workdir, also exported as $ACG2VEC_HOME for code and subprocesses that read it."""
    root = tmp_path / "acg2vec-data"
    root.mkdir()
    monkeypatch.setenv("ACG2VEC_HOME", str(root))
    return root


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The real site captures in ../shared/fixtures/real; conformance tests skip when they are absent."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real captures not found at {SHARED_FIXTURES} (they sit beside the repository in CI)")
    return SHARED_FIXTURES


class _QuietThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def local_http_server() -> Iterator[Callable[..., str]]:
    """Start HTTP servers on 127.0.0.1 with a free port; returns their base URL. Stopped after the test.

    ``local_http_server(directory=path)`` serves files; ``local_http_server(handler=HandlerClass)`` runs a handler.
    """
    servers: list[http.server.HTTPServer] = []

    def start(
        *, directory: Path | None = None, handler: type[http.server.BaseHTTPRequestHandler] | None = None
    ) -> str:
        if handler is None:
            if directory is None:
                raise ValueError("give a directory or a handler")

            class _Files(http.server.SimpleHTTPRequestHandler):
                def __init__(self, *args: object, **kwargs: object) -> None:
                    super().__init__(*args, directory=str(directory), **kwargs)

                def log_message(self, *args: object) -> None:
                    pass

            handler = _Files
        server = _QuietThreadingServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sample_site() -> Iterator[object]:
    """The acg2vec sample site (seed 0, 300 posts, no faults) on 127.0.0.1 with a free port; stopped after the test.

    ``sample_site.url_for("safebooru")`` (also "bangumi", "wikipedia/zh|ja|en", "moegirl", "jikan", "mal") gives a
    site's base URL; ``sample_site.world`` holds what the crawl should find. For faults or other sizes, start one
    with ``acg2vec.sample_site.start_sample_site(faults=FaultPlan(...))`` in the test.
    """
    from acg2vec.sample_site import start_sample_site

    site = start_sample_site(seed=0, posts=300)
    try:
        yield site
    finally:
        site.stop()
