"""The pacer against a backlogged engine: due arrivals are pulled at each freed connection, the timer backs off,
and the pacer keeps time again as soon as nothing waits (a real pacer on a real event loop, a counting engine)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bottlenecktop.probes.load.pacer import BACKLOG_TICK_MS, TICK_MS, Pacer


class Engine:
    """Counts hand-overs: each distinct ``now`` is one wakeup of the pacer (or one pull)."""

    def __init__(self, backlogged: bool) -> None:
        self.backlogged = backlogged
        self.pull: Callable[[float], None] | None = None
        self.intended: list[float] = []
        self.nows: list[float] = []

    def submit(self, intended: float, now: float) -> None:
        self.intended.append(intended)
        if not self.nows or self.nows[-1] != now:
            self.nows.append(now)


async def _run(pacer: Pacer, seconds: float) -> None:
    task = asyncio.create_task(pacer.run())
    await asyncio.sleep(seconds)
    pacer.stop()
    await task


async def test_a_backlogged_engine_wakes_the_pacer_less_and_pulls_what_is_due() -> None:
    busy, free = Engine(backlogged=True), Engine(backlogged=False)
    bases = []
    for engine in (busy, free):
        pacer = Pacer(engine)
        pacer.set_rate(5000.0)
        bases.append(pacer._base)
        await _run(pacer, 0.2)
    # Free: a wakeup about every millisecond. Backlogged: about every BACKLOG_TICK_MS, and the pull is offered.
    assert len(free.nows) >= 0.2 / (TICK_MS / 1000) * 0.5, len(free.nows)
    assert len(busy.nows) <= 0.2 / (BACKLOG_TICK_MS / 1000) + 3, len(busy.nows)
    # Every arrival of the schedule was still handed over, once each and in order.
    for engine, base in ((busy, bases[0]), (free, bases[1])):
        assert engine.intended == [base + i / 5000.0 for i in range(len(engine.intended))]
        assert len(engine.intended) >= 5000 * 0.2 * 0.9, len(engine.intended)


async def test_a_pull_hands_over_the_arrivals_due_and_ends_when_nothing_waits() -> None:
    engine = Engine(backlogged=True)
    pacer = Pacer(engine)
    pacer.set_rate(1000.0)
    task = asyncio.create_task(pacer.run())
    await asyncio.sleep(0.005)
    assert engine.pull is not None  # the first tick saw the backlog
    pull = engine.pull
    handed = len(engine.intended)
    time.sleep(0.004)  # a response comes 4 ms later: the 4 arrivals due meanwhile join the queue at once
    pull(time.monotonic())
    assert len(engine.intended) - handed >= 3
    assert engine.pull is pull  # still backlogged
    engine.backlogged = False  # the queue emptied: the freed connection goes idle
    pull(time.monotonic())
    assert engine.pull is None
    before = len(engine.nows)
    await asyncio.sleep(0.05)
    pacer.stop()
    await task
    assert len(engine.nows) - before >= 15  # keeping time every millisecond again, not every ten
