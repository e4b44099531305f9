"""Bad input and faults end as counted errors by class and one clear message, never a traceback."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.load.driver import LoadDriver
from bottlenecktop.probes.load.preflight import preflight
from tests.support.driver_helpers import run_driver
from tests.support.servers import CapacityServer, free_port, spawn_server_process

QUICK = DriverConfig(url="", start_rps=50.0, step_seconds=2.0, confirm_seconds=1.0, timeout=2.0)


def quick(url: str) -> DriverConfig:
    return replace(QUICK, url=url, t0=time.monotonic())


def no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out


def test_connection_refused(capfd: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    assert preflight(url) == f"connection refused at 127.0.0.1:{url.rsplit(':', 1)[1].strip('/')}"
    run = run_driver(quick(url), limit=15)
    assert run.outcome.reason == "errors" and run.outcome.max_sustainable_rps is None
    assert run.steps[0].errors.get("refused", 0) > 0 and run.steps[0].error_rate == 1.0
    assert any(s.errors.get("refused") for s in run.seconds)
    assert [e for e in run.events if e.startswith("connection refused at 127.0.0.1:")] and len(run.events) == 1
    no_traceback(capfd)


def test_unknown_host(capfd: pytest.CaptureFixture[str]) -> None:
    url = "http://no-such-host.invalid:8000/"
    assert preflight(url) == "unknown host no-such-host.invalid"
    run = run_driver(quick(url), limit=15)
    assert run.outcome.reason == "errors"
    assert run.steps[0].errors.get("other", 0) > 0
    assert run.events == ["unknown host no-such-host.invalid"]
    no_traceback(capfd)


def test_tls_to_a_plain_http_port(capfd: pytest.CaptureFixture[str]) -> None:
    with CapacityServer(slots=4, work_ms=1.0) as server:
        url = f"https://127.0.0.1:{server.port}/"
        message = preflight(url)
        assert message is not None and message.startswith("TLS handshake failed"), message
        run = run_driver(quick(url), limit=15)
    assert run.outcome.reason == "errors"
    assert sum(run.steps[0].errors.values()) > 0
    assert run.events and all(e.startswith("TLS handshake failed") for e in run.events), run.events
    no_traceback(capfd)


def test_target_that_dies_mid_run(capfd: pytest.CaptureFixture[str]) -> None:
    proc, port = spawn_server_process(slots=8, work_ms=5.0)
    killed: list[float] = []

    def kill_after_first_step(driver, run, elapsed):  # type: ignore[no-untyped-def]
        if run.steps and not killed:
            proc.kill()
            killed.append(elapsed)

    try:
        run = run_driver(
            quick(f"http://127.0.0.1:{port}/"),
            limit=20,
            on_tick=kill_after_first_step,
        )
    finally:
        proc.kill()
        proc.wait(5)
    assert killed
    assert run.steps[0].sustained
    failed = run.steps[-1]
    assert not failed.sustained and failed.reason == "errors"
    assert set(failed.errors) <= {"refused", "reset"} and failed.errors.get("refused")
    outcome = run.outcome
    assert outcome.reason == "errors" and not outcome.confirmed and outcome.max_sustainable_rps == 50
    assert any(e.startswith("connection refused at") for e in run.events)
    no_traceback(capfd)


def test_http_errors_are_counted_by_status_class() -> None:
    with CapacityServer(slots=4, work_ms=1.0, status=503) as server:
        run = run_driver(quick(server.url), limit=15)
    assert run.outcome.reason == "errors"
    assert run.steps[0].errors.get("http_5xx", 0) > 0 and run.steps[0].achieved_rps == 0


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            DriverConfig(url="ftp://example.com/"),
            "malformed URL: the scheme must be http or https",  # no URL echoed: it may hold a secret
        ),
        (DriverConfig(url="http://127.0.0.1:99999/"), "malformed URL: Port out of range"),
        (DriverConfig(url="http:///path"), "malformed URL: no host"),
        (DriverConfig(url="http://127.0.0.1/", step_factor=1.0), "the step factor must be above 1"),
        (DriverConfig(url="http://127.0.0.1/", engine="warp"), "unknown engine 'warp'"),
    ],
)
def test_bad_options_raise_one_line(config: DriverConfig, expected: str) -> None:
    with pytest.raises(ValueError) as info:
        LoadDriver(config)
    assert str(info.value).startswith(expected) and "\n" not in str(info.value)


def test_preflight_answers_none_when_the_target_answers() -> None:
    with CapacityServer(slots=4, work_ms=1.0, status=404) as server:
        assert preflight(server.url) is None  # any HTTP answer is an answer
    assert preflight("nonsense") == "malformed URL: the scheme must be http or https"
