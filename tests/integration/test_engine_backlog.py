"""The fast engine and the pacer against a real server past its capacity: with every connection busy the pacer
hands arrivals over when a connection frees, and no arrival of the schedule is lost or handed over late."""

from __future__ import annotations

import asyncio
import time

import pytest

from bottlenecktop.probes.load.engines.base import LATE_S
from bottlenecktop.probes.load.engines.fast import Engine
from bottlenecktop.probes.load.pacer import BACKLOG_TICK_MS, Pacer
from bottlenecktop.probes.load.target import build_target
from tests.support.servers import CapacityServer

RATE = 600.0  # req/s offered
SECONDS = 1.5


@pytest.mark.slow
async def test_a_backlogged_engine_pulls_every_arrival_in_its_turn() -> None:
    # 4 connections to a server answering each in 10 ms: 400 req/s at most, so a queue grows behind them.
    with CapacityServer(slots=None, work_ms=10.0) as server:
        engine = Engine(build_target(server.url), timeout=10.0, max_connections=4)
        pacer = Pacer(engine)
        pacer.set_rate(RATE)
        started = time.monotonic()
        task = asyncio.create_task(pacer.run())
        pulled = 0
        lags: list[int] = []
        offered = completed = 0
        while time.monotonic() - started < SECONDS:
            await asyncio.sleep(0.05)
            pulled += engine.pull is not None
            tally = engine.take_tally()
            offered, completed = offered + tally.offered, completed + tally.completed
            lags += tally.lag
        pacer.stop()
        elapsed = time.monotonic() - started
        await task
        tally = engine.take_tally()
        offered, lags = offered + tally.offered, lags + tally.lag
        queued = engine.queued
        engine.close()
    assert pulled >= 0.5 * SECONDS / 0.05, pulled  # backlogged most of the run
    # Every arrival due was handed over (the schedule's count, less those due since the last hand-over), none of
    # them late: at a freed connection or at the backed-off timer. (That a pull hands over what is due is
    # tests/unit/test_pacer_backlog.py: here the four connections answer in step, so pulls come in bursts too.)
    median = sorted(lags)[len(lags) // 2]
    print(f"offered {offered} of {RATE * elapsed:.1f}; lag median {median} us, max {max(lags)} us; pulled {pulled}")
    assert offered == pacer._n  # every arrival the pacer handed over reached the engine's books, once
    # ... and the pacer handed over the schedule up to its last wakeup (at most a backed-off timer period ago, and a
    # stall of the loop: the server's threads share this process's GIL).
    assert RATE * (elapsed - BACKLOG_TICK_MS / 1000 - 0.03) <= offered <= RATE * elapsed + 2, (offered, elapsed)
    assert max(lags) < LATE_S * 1e6, max(lags)
    # The server answered at its capacity; the rest waits in the queue, in order.
    assert 0.7 * 400 * SECONDS <= completed <= 1.05 * 400 * elapsed, completed
    assert queued >= 0.5 * (RATE - 400) * SECONDS, queued
