"""The target's name is looked up once: the preflight and the driver connect to that address (the Host header
keeps the name), and proxy environment variables do not divert either of them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.load.engines import curl_available
from bottlenecktop.probes.load.preflight import preflight, resolve
from tests.support.driver_helpers import run_driver
from tests.support.servers import free_port

# .invalid never resolves (RFC 2606): a second lookup anywhere would fail the request
NAME = "target.invalid"


class HostRecorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.hosts: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.hosts.append(self.headers.get("Host", ""))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[HostRecorder]:
    srv = HostRecorder()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def dead_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every proxy variable points at a port nobody listens on: a client that trusts them fails."""
    proxy = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def test_resolve_says_local_for_loopback_and_gives_the_address() -> None:
    got = resolve("http://localhost:8/")
    assert got.local and got.address in ("127.0.0.1", "::1") and got.host == "localhost"


def test_the_preflight_connects_to_the_resolved_address_and_keeps_the_name(server: HostRecorder) -> None:
    port = server.server_address[1]
    assert preflight(f"http://{NAME}:{port}/", timeout=3, address="127.0.0.1") is None
    assert server.hosts == [f"{NAME}:{port}"]


def test_the_preflight_ignores_proxy_variables(server: HostRecorder, dead_proxy: None) -> None:
    port = server.server_address[1]
    assert preflight(f"http://127.0.0.1:{port}/", timeout=3) is None
    assert server.hosts == [f"127.0.0.1:{port}"]


@pytest.mark.parametrize("engine", ["fast", "curl"])
def test_the_driver_connects_to_the_resolved_address(server: HostRecorder, dead_proxy: None, engine: str) -> None:
    if engine == "curl" and not curl_available():
        pytest.fail("pycurl is part of the install: the curl engine must be testable")
    port = server.server_address[1]
    config = DriverConfig(url=f"http://{NAME}:{port}/", connect_host="127.0.0.1", engine=engine, start_rps=20,
                          step_seconds=1.0, max_time=2.5, max_connections=4)
    run = run_driver(config, limit=20)
    assert run.seconds and sum(s.completed for s in run.seconds) > 10, run.events
    assert set(server.hosts) == {f"{NAME}:{port}"}
