"""The driver against real local servers: no coordinated omission, commands, its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import psutil
import pytest

from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.load.preflight import is_local_url
from bottlenecktop.probes.load.stats import decode_histogram
from tests.support.driver_helpers import run_driver
from tests.support.paths import ROOT
from tests.support.servers import CapacityServer


def test_a_stall_shows_in_open_model_p99_but_hides_in_a_closed_loop(capfd: pytest.CaptureFixture[str]) -> None:
    # One 1-second stall inside a 5-second step; the SLO is set out of reach so that the step runs to its end.
    common = DriverConfig(url="", slo_p99_ms=60_000.0, step_seconds=5.0, search_steps=0, confirm_seconds=0.5)
    with CapacityServer(slots=4, work_ms=5.0, stall_after=2.0, stall_seconds=1.0) as server:
        open_run = run_driver(
            replace(common, url=server.url, start_rps=100, max_rps=100, t0=time.monotonic()), limit=20
        )
    with CapacityServer(slots=4, work_ms=5.0, stall_after=2.0, stall_seconds=1.0) as server:
        closed_run = run_driver(
            replace(common, url=server.url, closed_model=True, concurrency_steps=(1,), t0=time.monotonic()),
            limit=20,
        )
    opened, closed = open_run.steps[0], closed_run.steps[0]
    print(f"open model:   p99 {opened.p99_ms:.0f} ms, max {opened.max_ms:.0f} ms")
    print(f"closed model: p99 {closed.p99_ms:.0f} ms, max {closed.max_ms:.0f} ms")
    # Open model: every request meant to leave during the stall waited for it, ~100 of ~400: p99 near 1 s.
    assert opened.p99_ms >= 700 and opened.max_ms >= 900
    # Closed loop: one request waited, the others were simply never sent: the stall vanishes from p99.
    assert closed.max_ms >= 900 and closed.p99_ms < 200
    # The per-second stream shows it too, and its histograms decode and merge.
    worst = max(open_run.seconds, key=lambda s: s.max_ms)
    assert worst.max_ms >= 900 and worst.hist
    assert decode_histogram(worst.hist).get_max_value() >= 900_000
    assert "Traceback" not in capfd.readouterr().err


def test_seconds_carry_rates_latency_and_self_measurements() -> None:
    with CapacityServer(slots=8, work_ms=5.0) as server:
        run = run_driver(
            DriverConfig(
                url=server.url, start_rps=80, max_rps=80, step_seconds=2.5, confirm_seconds=1.0, t0=time.monotonic()
            ),
            limit=20,
        )
    assert run.outcome.confirmed and run.outcome.max_sustainable_rps == 80 and run.outcome.reason == "max-rps"
    full = [s for s in run.seconds if s.phase in ("ramping", "confirming") and s.dt > 0.9][1:]
    assert full, run.seconds
    for second in full:
        assert 60 <= second.offered_rps <= 100 and 60 <= second.achieved_rps <= 100
        assert 4.0 <= second.p50_ms <= 100 and second.driver_cpu_pct > 0 and second.connections >= 1
        assert second.bytes_in > 0 and second.errors == {}
    assert [s.t for s in run.seconds] == sorted(s.t for s in run.seconds)
    assert run.seconds[-1].phase == "done"
    assert run.steps[-1].phase == "confirming" and run.steps[-1].sustained


def test_stop_ends_with_the_best_rate_so_far() -> None:
    def stop_after_first_step(driver, run, elapsed):  # type: ignore[no-untyped-def]
        if run.steps and not getattr(driver, "_asked", False):
            driver._asked = True
            driver.command("stop")

    with CapacityServer(slots=8, work_ms=5.0) as server:
        run = run_driver(
            DriverConfig(url=server.url, start_rps=50, step_seconds=1.5, t0=time.monotonic()),
            limit=20,
            on_tick=stop_after_first_step,
        )
    outcome = run.outcome
    assert outcome.reason == "stopped" and not outcome.confirmed
    assert outcome.max_sustainable_rps is not None and outcome.max_sustainable_rps >= 50


def test_hold_and_raise_change_the_rate_until_resumed() -> None:
    def steer(driver, run, elapsed):  # type: ignore[no-untyped-def]
        state = driver.__dict__.setdefault("_state", [0])
        if state[0] == 0 and elapsed > 1.0:
            driver.command("raise", 2.0)  # 40 -> 80 req/s, held
            state[0] = 1
        elif state[0] == 1 and elapsed > 4.0:
            driver.command("stop")
            state[0] = 2

    with CapacityServer(slots=8, work_ms=5.0) as server:
        run = run_driver(
            DriverConfig(url=server.url, start_rps=40, step_seconds=30, t0=time.monotonic()), limit=20, on_tick=steer
        )
    holding = [s for s in run.seconds if s.phase == "holding"]
    assert holding and all(s.target_rps == pytest.approx(80) for s in holding)
    assert any(70 <= s.offered_rps <= 90 for s in holding)
    assert run.outcome.reason == "stopped"


def test_driver_exits_when_its_parent_is_killed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with CapacityServer(slots=8, work_ms=5.0) as server:
        script = textwrap.dedent(
            f"""
            import time
            from bottlenecktop.probes.load.config import DriverConfig
            from bottlenecktop.probes.load.driver import LoadDriver
            d = LoadDriver(DriverConfig(url={server.url!r}, start_rps=20, step_seconds=30))
            print(d.start(), flush=True)
            time.sleep(60)
            """
        )
        parent = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert parent.stdout is not None
        driver_pid = int(parent.stdout.readline())
        driver = psutil.Process(driver_pid)
        time.sleep(1.0)
        assert driver.is_running() and server.requests > 0
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        gone, _ = psutil.wait_procs([driver], timeout=5)
        assert gone, "the driver outlived its parent"


def test_is_local_url() -> None:
    assert is_local_url("http://127.0.0.1:8000/")
    assert is_local_url("http://localhost/")
    assert not is_local_url("http://192.0.2.1/")  # TEST-NET-1: resolved, never contacted
    assert not is_local_url("not a url")
