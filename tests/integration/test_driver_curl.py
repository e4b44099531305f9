"""The curl engine over HTTP/1.1, and HEAD in both engines, against the threaded test server: the same
measurements, the same error classes and messages as the fast engine."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from bottlenecktop.probes.load.config import DriverConfig
from tests.support.driver_helpers import run_driver
from tests.support.servers import CapacityServer, free_port, spawn_server_process

QUICK = DriverConfig(url="", start_rps=50.0, step_seconds=2.0, confirm_seconds=1.0, timeout=2.0, engine="curl")


def quick(url: str, **options: object) -> DriverConfig:
    return replace(QUICK, url=url, t0=time.monotonic(), **options)  # type: ignore[arg-type]


def no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize(
    ("engine", "method", "body"),
    [("fast", "HEAD", None), ("curl", "HEAD", None), ("curl", "GET", None), ("curl", "POST", b"x" * 3000)],
    ids=["fast-HEAD", "curl-HEAD", "curl-GET", "curl-POST"],
)
def test_requests_complete_on_keep_alive_connections(engine: str, method: str, body: bytes | None) -> None:
    with CapacityServer(slots=8, work_ms=5.0) as server:
        run = run_driver(quick(server.url, engine=engine, method=method, body=body, start_rps=60, max_rps=60), limit=20)
    assert run.outcome.confirmed and run.outcome.max_sustainable_rps == 60, (run.outcome, run.events)
    assert run.events == [] and all(step.errors == {} for step in run.steps)
    completed = sum(s.completed for s in run.seconds)
    assert set(server.methods) == {method} and server.requests >= completed >= 100
    full = [s for s in run.seconds if s.dt > 0.9 and s.completed]
    assert all(s.bytes_in > 0 and 4.0 <= s.p50_ms < 200 for s in full), full
    # Keep-alive held: 60 req/s of 5 ms each needs a few connections (more when the box is busy), not 200.
    assert max(s.connections for s in run.seconds) <= 20


def test_a_stall_shows_in_p99(capfd: pytest.CaptureFixture[str]) -> None:
    config = quick("", start_rps=100, max_rps=100, step_seconds=5.0, slo_p99_ms=60_000.0, search_steps=0)
    with CapacityServer(slots=4, work_ms=5.0, stall_after=2.0, stall_seconds=1.0) as server:
        run = run_driver(replace(config, url=server.url), limit=20)
    step = run.steps[0]
    # Every request meant to leave during the stall waited for it (latency counts from the intended time).
    assert step.p99_ms >= 700 and step.max_ms >= 900, step
    no_traceback(capfd)


def test_connection_refused(capfd: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    run = run_driver(quick(f"http://127.0.0.1:{port}/"), limit=15)
    assert run.outcome.reason == "errors" and run.outcome.max_sustainable_rps is None
    assert run.steps[0].errors.get("refused", 0) > 0 and run.steps[0].error_rate == 1.0
    assert run.events == [f"connection refused at 127.0.0.1:{port}"]
    no_traceback(capfd)


def test_unknown_host(capfd: pytest.CaptureFixture[str]) -> None:
    run = run_driver(quick("http://no-such-host.invalid:8000/"), limit=15)
    assert run.outcome.reason == "errors" and run.steps[0].errors.get("other", 0) > 0
    assert run.events == ["unknown host no-such-host.invalid"]
    no_traceback(capfd)


def test_tls_to_a_plain_http_port(capfd: pytest.CaptureFixture[str]) -> None:
    with CapacityServer(slots=4, work_ms=1.0) as server:
        run = run_driver(quick(f"https://127.0.0.1:{server.port}/", insecure=True), limit=15)
    assert run.outcome.reason == "errors" and sum(run.steps[0].errors.values()) > 0
    assert run.events and all(e.startswith("TLS handshake failed") for e in run.events), run.events
    no_traceback(capfd)


def test_timeouts_are_counted(capfd: pytest.CaptureFixture[str]) -> None:
    with CapacityServer(slots=4, work_ms=1500.0) as server:
        run = run_driver(quick(server.url, timeout=0.5, step_seconds=1.5), limit=15)
    assert run.outcome.reason in ("errors", "p99") and not run.steps[0].sustained
    assert run.steps[0].errors.get("timeout", 0) > 0 and set(run.steps[0].errors) == {"timeout"}
    assert run.events == [f"requests to 127.0.0.1:{server.port} timed out after 0.5 s"]
    no_traceback(capfd)


def test_http_errors_are_counted_by_status_class() -> None:
    with CapacityServer(slots=4, work_ms=1.0, status=503) as server:
        run = run_driver(quick(server.url), limit=15)
    assert run.outcome.reason == "errors"
    assert run.steps[0].errors.get("http_5xx", 0) > 0 and run.steps[0].achieved_rps == 0


def test_target_that_dies_mid_run(capfd: pytest.CaptureFixture[str]) -> None:
    proc, port = spawn_server_process(slots=8, work_ms=5.0)
    killed: list[float] = []

    def kill_after_first_step(driver, run, elapsed):  # type: ignore[no-untyped-def]
        if run.steps and not killed:
            proc.kill()
            killed.append(elapsed)

    try:
        run = run_driver(quick(f"http://127.0.0.1:{port}/"), limit=20, on_tick=kill_after_first_step)
    finally:
        proc.kill()
        proc.wait(5)
    assert killed and run.steps[0].sustained
    failed = run.steps[-1]
    assert not failed.sustained and failed.reason == "errors"
    assert set(failed.errors) <= {"refused", "reset"} and failed.errors.get("refused")
    assert run.outcome.reason == "errors" and run.outcome.max_sustainable_rps == 50
    assert any(e.startswith("connection refused at") for e in run.events)
    no_traceback(capfd)
