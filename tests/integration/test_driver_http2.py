"""HTTP/2 through the curl engine, against a real nginx: its access log says how the requests arrived."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.load.driver import LoadDriver
from bottlenecktop.probes.load.preflight import preflight
from tests.support.driver_helpers import run_driver
from tests.support.driver_nginx import Nginx, nginx
from tests.support.servers import CapacityServer

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (CI installs it)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    with nginx(tmp_path_factory.mktemp("nginx")) as running:
        yield running


def tls_port(port: int | None) -> int:
    if port is None:
        pytest.skip("no TLS certificate: neither the openssl command nor the cryptography package is installed")
    return port


def steady(url: str, *, http2: bool = False, insecure: bool = False, method: str = "GET") -> DriverConfig:
    """A short run at a rate nginx sustains easily: one step, then the confirmation window."""
    return DriverConfig(
        url=url,
        method=method,
        http2=http2,
        insecure=insecure,
        start_rps=60,
        max_rps=60,
        step_seconds=1.5,
        confirm_seconds=1.0,
        timeout=2.0,
        t0=time.monotonic(),
    )


def test_http2_over_cleartext_with_prior_knowledge(server: Nginx) -> None:
    url = f"http://127.0.0.1:{server.h2c}/"
    assert preflight(url, http2=True) is None
    run = run_driver(steady(url, http2=True), limit=20)
    assert run.outcome.confirmed and run.outcome.max_sustainable_rps == 60, (run.outcome, run.events)
    assert all(step.errors == {} for step in run.steps) and run.events == []
    completed = sum(s.completed for s in run.seconds)
    protocols = server.protocols(server.h2c)
    assert set(protocols) == {"HTTP/2.0"} and protocols["HTTP/2.0"] >= completed >= 100
    # All the requests shared one connection (PIPEWAIT: wait to multiplex rather than open another).
    assert max(s.connections for s in run.seconds) <= 2


def test_http2_over_tls(server: Nginx) -> None:
    port = tls_port(server.h2)
    url = f"https://127.0.0.1:{port}/"
    message = preflight(url, http2=True)
    assert message is not None and message.startswith("TLS handshake failed"), message  # self-signed
    assert preflight(url, http2=True, insecure=True) is None
    run = run_driver(steady(url, http2=True, insecure=True), limit=20)
    assert run.outcome.confirmed and run.outcome.max_sustainable_rps == 60, (run.outcome, run.events)
    protocols = server.protocols(port)
    assert set(protocols) == {"HTTP/2.0"} and protocols["HTTP/2.0"] >= 100


def test_a_tls_server_without_h2_is_said_once_and_still_measured(server: Nginx) -> None:
    port = tls_port(server.tls1)
    run = run_driver(steady(f"https://127.0.0.1:{port}/", http2=True, insecure=True), limit=20)
    assert run.outcome.confirmed, (run.outcome, run.events)
    assert run.events == [f"127.0.0.1:{port} answered in HTTP/1.1, not HTTP/2 (its TLS did not offer h2)"]
    assert set(server.protocols(port)) == {"HTTP/1.1"}


def test_certificate_checks_fail_as_counted_tls_errors(server: Nginx) -> None:
    port = tls_port(server.h2)
    run = run_driver(steady(f"https://127.0.0.1:{port}/", http2=True), limit=20)
    assert run.outcome.reason == "errors" and run.outcome.max_sustainable_rps is None
    assert run.steps[0].errors.get("other", 0) > 0 and run.steps[0].error_rate == 1.0
    assert len(run.events) == 1 and run.events[0].startswith(f"TLS handshake failed with 127.0.0.1:{port}: ")


def test_fast_engine_speaks_http11_over_tls(server: Nginx) -> None:
    port = tls_port(server.h2)
    run = run_driver(steady(f"https://127.0.0.1:{port}/", insecure=True, method="HEAD"), limit=20)
    assert run.outcome.confirmed, (run.outcome, run.events)
    assert server.methods(port).get("HEAD", 0) >= 100
    assert server.protocols(port).get("HTTP/1.1", 0) >= 100


def test_http2_needs_the_curl_engine() -> None:
    with pytest.raises(ValueError, match="HTTP/2 needs the curl engine"):
        LoadDriver(DriverConfig(url="http://127.0.0.1/", http2=True, engine="fast"))


def test_http2_ramp_finds_the_capacity_behind_nginx(tmp_path: Path) -> None:
    # nginx turns HTTP/2 into HTTP/1.1 towards a server of 4 slots x 20 ms: the magic number is 200 req/s.
    with CapacityServer(slots=4, work_ms=20.0) as target, nginx(tmp_path, upstream=target.port) as proxy:
        run = run_driver(
            DriverConfig(
                url=f"http://127.0.0.1:{proxy.h2c}/",
                http2=True,
                start_rps=80,
                step_seconds=2.0,
                confirm_seconds=2.0,
                t0=time.monotonic(),
            ),
            limit=50,
        )
        protocols = proxy.protocols(proxy.h2c)
    found = run.outcome.max_sustainable_rps
    assert found is not None and 180 <= found <= 220, ([(s.offered_rps, s.p99_ms) for s in run.steps], run.outcome)
    assert set(protocols) == {"HTTP/2.0"}
