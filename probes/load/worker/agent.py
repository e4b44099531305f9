"""The driver process as one of several load agents: no ramp of its own, it paces the segments the controller
(probes/load/cluster) sends, on the controller's grid of whole seconds, and reports every grid second.

Commands on stdin: ``segment`` (a cluster.messages.Segment as a map), ``drain`` (from an agreed instant, this
host's wall time, send nothing until the requests out are answered, then report ``d``), ``stop``. Reports:
``a`` AgentSecond, ``d`` drained, ``e`` event lines, ``o`` one RampOutcome when it ends.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable

import msgspec

from bottlenecktop.probes.load.cluster.messages import AgentSecond, Segment
from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.load.engines import make_engine
from bottlenecktop.probes.load.engines.protocol import LoadEngine
from bottlenecktop.probes.load.pacer import Pacer
from bottlenecktop.probes.load.stats import Window
from bottlenecktop.probes.load.target import build_target
from bottlenecktop.probes.load.worker.controller import second_record, tick
from bottlenecktop.probes.samples import RampOutcome

# asyncio's timers may fire a little early; a grid second is closed only once its end has really come.
EARLY_S = 0.0005


class AgentWorker:
    """Paces the controller's segments and reports each grid second; runs until stopped or orphaned."""

    def __init__(self, config: DriverConfig, emit: Callable[[str, object], None]) -> None:
        self.config = config
        self.emit = emit
        target = build_target(config.url, config.method, config.headers, config.body)
        self.engine: LoadEngine = make_engine(config, target)
        self.pacer = Pacer(self.engine)
        self.pacer.set_stripe(config.stripe_index, config.stripe_count)
        self.stopping = False
        self.parent_gone = False
        self.segment = Segment(seg=-1, step=0, phase="ramping", rate=0.0, j=0, at_wall=0.0,
                               stripe_index=config.stripe_index, stripe_count=config.stripe_count)
        self.grid: tuple[float, int] | None = None  # (time.monotonic() of grid second j0, j0)
        self.pending: dict[int, Segment] = {}
        self.second = Window(time.monotonic())
        self._cpu = time.process_time()
        self._drain_task: asyncio.Task[None] | None = None

    def command(self, name: str, value: object) -> None:
        if name == "stop":
            self.stopping = True
        elif name == "segment":
            seg = msgspec.convert(value, Segment)
            if self.grid is None:  # the first segment sets the grid on this host's monotonic clock
                self.grid = (time.monotonic() + (seg.at_wall - time.time()), seg.j)
            self.pending[seg.j] = seg
            self._end_current()
        elif name == "drain":
            # The end is an agreed instant, not this message's arrival: every agent's stripe of the schedule
            # stops at the same point of it, however far apart the messages arrive.
            at = time.monotonic() + (float(value) - time.time()) if isinstance(value, int | float) else None
            self._drain_task = asyncio.get_running_loop().create_task(self._drain(at))

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.pacer.run()), asyncio.create_task(self._housekeeping()),
                 asyncio.create_task(self._seconds())]
        try:
            while not (self.stopping or self.parent_gone):
                await tick()
        finally:
            self.pacer.stop()
            for task in tasks:
                task.cancel()
            if not self.parent_gone:
                self.emit("o", RampOutcome(t=time.monotonic() - self.config.t0, reason="stopped"))
            self.engine.close()

    async def _seconds(self) -> None:
        while self.grid is None:
            await asyncio.sleep(0.01)
        mono0, j0 = self.grid
        while True:
            m = math.floor(time.monotonic() - mono0 + EARLY_S) + 1
            at = mono0 + m
            while (left := at - time.monotonic()) > EARLY_S:
                await asyncio.sleep(left)
            j = j0 + m  # the grid second starting now; the one ending now is j - 1
            self._report(j - 1, at)
            due = [k for k in self.pending if k <= j]
            if due:
                seg = self.pending.pop(max(due))
                for k in due:
                    self.pending.pop(k, None)
                self.segment = seg
                self.pacer.set_stripe(seg.stripe_index, seg.stripe_count)
                # The segment's schedule counts from the grid second itself, not from when this loop woke.
                self.pacer.set_rate(seg.rate, base=mono0 + (seg.j - j0))
                self._end_current()

    def _end_current(self) -> None:
        """The running segment ends where the next known one starts, however late this loop wakes for it."""
        if self.grid is not None and self.pending:
            mono0, j0 = self.grid
            self.pacer.end_at(mono0 + (min(self.pending) - j0))

    def _report(self, j: int, now: float) -> None:
        folded = Window.of(self.engine.take_tally(), now)
        self.second.merge(folded)
        iv, self.second = self.second, Window(now)
        cpu = time.process_time()
        dt = max(now - iv.started, 1e-3)
        cpu_pct = (cpu - self._cpu) / dt * 100.0
        self._cpu = cpu
        seg = self.segment
        load = second_record(self.engine, iv, t=now - self.config.t0, dt=dt, phase=seg.phase, step=seg.step,
                             target_rps=self.pacer.rate, cpu_pct=cpu_pct)
        self.emit("a", AgentSecond(j=j, seg=seg.seg, offered=iv.offered, lat=dict(iv.lat.buckets),
                                   lat_min_us=iv.lat.min_us, lat_max_us=iv.lat.max_us, load=load))

    async def _drain(self, at: float | None) -> None:
        if at is not None:
            self.pacer.end_at(at)
            while (left := at - time.monotonic()) > 0:
                await asyncio.sleep(left)
        self.pacer.set_rate(0.0)
        self.engine.drop_queue()
        deadline = time.monotonic() + self.config.timeout + 0.5
        while self.engine.busy and time.monotonic() < deadline and not (self.stopping or self.parent_gone):
            await asyncio.sleep(0.05)
        self.emit("d", self.engine.in_flight)

    async def _housekeeping(self) -> None:
        parent = os.getppid()
        while True:
            await tick()
            now = time.monotonic()
            self.second.merge(Window.of(self.engine.take_tally(), now))
            self.engine.sweep(now)
            for line in self.engine.take_events():
                self.emit("e", line)
            if os.getppid() != parent:
                self.parent_gone = True
