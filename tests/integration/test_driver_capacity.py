"""The ramp finds the magic number of a target whose capacity is known by construction."""

from __future__ import annotations

import time

import pytest

from bottlenecktop.probes.load.config import DriverConfig
from tests.support.driver_helpers import run_driver
from tests.support.servers import CapacityServer


@pytest.mark.slow
def test_finds_200_rps_within_10_percent_three_runs_in_a_row() -> None:
    found = []
    for _ in range(3):
        # 4 slots x 20 ms of sleep = 200 req/s, whatever the CPU does.
        with CapacityServer(slots=4, work_ms=20.0) as server:
            run = run_driver(
                DriverConfig(url=server.url, start_rps=100, step_seconds=1.5, confirm_seconds=3.0, t0=time.monotonic()),
                limit=60,
            )
        outcome = run.outcome
        print(f"magic number {outcome.max_sustainable_rps} (confirmed {outcome.confirmed}, {outcome.reason})")
        assert outcome.confirmed and not outcome.driver_limited
        assert outcome.max_sustainable_rps is not None
        found.append(outcome.max_sustainable_rps)
        assert 180.0 <= outcome.max_sustainable_rps <= 220.0, found
        assert [s.phase for s in run.steps].count("searching") == 3
