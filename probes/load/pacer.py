"""The open-model pacer: requests leave at their intended times, whatever the engine."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

# The event loop's timers count whole milliseconds (libuv's, under uvloop): a shorter wait rounds to zero and the
# loop would spin. So the pacer wakes at most once a millisecond and sends everything due by then; a request
# meant for inside that millisecond leaves up to a millisecond late, and its lag and latency say so.
TICK_MS = 1
# While every connection is busy and requests already wait for one, nothing due can leave before a connection
# frees; the engine then asks for the arrivals due at each response (``pull``) and the timer only backs that up.
BACKLOG_TICK_MS = 10


class Submits(Protocol):
    def submit(self, intended: float, now: float) -> None: ...


@runtime_checkable
class Backlogs(Protocol):
    """An engine that can say it is backlogged and then ask for due arrivals itself (engines/fast.py)."""

    pull: Callable[[float], None] | None  # set by the pacer while backlogged: call before a freed connection
    # takes the next waiting request

    @property
    def backlogged(self) -> bool: ...  # requests wait for a connection and no more can open


class Pacer:
    """The open-model schedule: request i of a rate segment is meant to leave at ``base + i / rate``.

    One timer callback per wakeup (no task, no future): it hands over every request due by now, then re-arms for
    the next intended time, never sooner than ``TICK_MS``. A rate change re-arms at once.

    A backlogged engine (a saturated target: all connections busy, requests waiting for one) pulls the due
    arrivals whenever a connection frees, so that each still leaves in its turn; the timer then wakes only every
    ``BACKLOG_TICK_MS`` in case no response comes. The loop then wakes once per response instead of also once per
    millisecond (a third fewer wakeups against a saturated one-thread server).

    A stripe (index i of count N) sends only the requests whose index in the segment is i mod N: N pacers given
    the same rate and base together send exactly the one global schedule (the load agents of probes/load/cluster).
    """

    def __init__(self, engine: Submits) -> None:
        self.engine = engine
        self.rate = 0.0
        self._base = time.monotonic()
        self._n = 0
        self.stripe_index = 0
        self.stripe_count = 1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._done: asyncio.Future[None] | None = None
        self._stopped = False
        self._until: float | None = None  # the segment's end, when the next one is known (load agents)
        self._backlog = engine if isinstance(engine, Backlogs) else None

    def end_at(self, until: float) -> None:
        """Send nothing of this segment meant for ``until`` (time.monotonic()) or later: the next segment starts
        then. An agent that wakes late for the switch would otherwise send the old segment's arrivals meanwhile,
        more than its share of the schedule."""
        self._until = until

    def set_stripe(self, index: int, count: int) -> None:
        """Send only requests i with i mod ``count`` == ``index`` from the next segment on."""
        self.stripe_count = max(1, count)
        self.stripe_index = min(max(0, index), self.stripe_count - 1)

    def set_rate(self, rate: float, base: float | None = None) -> None:
        """Start a new constant-rate segment (requests per second, the global rate of all stripes; 0 pauses) at
        ``base`` (time.monotonic(); default now; a later base sends nothing until then)."""
        if self.rate > 0.0 and self._loop is not None and not self._stopped:
            # What the old segment had due by now still leaves: a pacer between wakeups (up to BACKLOG_TICK_MS
            # while backlogged) would otherwise drop it, and each agent a different share of it.
            self._hand_over(time.monotonic())
        self.rate = max(0.0, rate)
        self._base = time.monotonic() if base is None else base
        self._n = self.stripe_index
        self._until = None
        self._unpull()
        if self._loop is not None and not self._stopped:
            self._cancel()
            if self.rate > 0.0:
                self._timer = self._loop.call_soon(self._tick)

    def stop(self) -> None:
        self._stopped = True
        self._unpull()
        self._cancel()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def run(self) -> None:
        """Pace until ``stop()`` (or cancellation)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._done = loop.create_future()
        if self._stopped:
            return
        if self.rate > 0.0:
            self._timer = loop.call_soon(self._tick)
        try:
            await self._done
        finally:
            self._unpull()
            self._cancel()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _unpull(self) -> None:
        if self._backlog is not None:
            self._backlog.pull = None

    def _hand_over(self, now: float) -> bool:
        """Submit every request due by ``now``; True while the segment goes on."""
        rate, base, n, submit, step = self.rate, self._base, self._n, self.engine.submit, self.stripe_count
        due = int((now - base) * rate) + 1 if now >= base else 0
        until = self._until
        if until is not None:
            due = min(due, math.ceil((until - base) * rate))
        while n < due:
            submit(base + n / rate, now)
            n += step
        self._n = n
        return until is None or base + n / rate < until

    def _tick(self) -> None:
        self._timer = None
        if self.rate <= 0.0 or self._stopped or self._loop is None:
            return
        if not self._hand_over(time.monotonic()):
            self._unpull()
            return  # the segment is over: the next set_rate arms the pacer again
        backlog = self._backlog
        if backlog is not None and backlog.backlogged:
            backlog.pull = self._pull
            at_least_ms = BACKLOG_TICK_MS
        else:
            self._unpull()
            at_least_ms = TICK_MS
        self._arm(time.monotonic(), at_least_ms)

    def _arm(self, now: float, at_least_ms: int) -> None:
        """The next wakeup: at the next intended time, but not sooner than ``at_least_ms``."""
        assert self._loop is not None
        wait_ms = max(at_least_ms, math.ceil((self._base + self._n / self.rate - now) * 1000.0))
        self._timer = self._loop.call_later(wait_ms / 1000.0, self._tick)

    def _pull(self, now: float) -> None:
        """A connection frees while backlogged: hand over what is due, before it takes the oldest waiting one."""
        if self.rate <= 0.0 or self._stopped or self._loop is None:
            self._unpull()
            return
        going = self._hand_over(now)
        if going and self._backlog is not None and self._backlog.backlogged:
            return
        self._unpull()
        self._cancel()
        if going:  # nothing waits any more (this connection goes idle): arrivals leave on their own time again
            self._arm(now, TICK_MS)
