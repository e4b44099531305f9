"""The ramp controller inside the driver process: steps, seconds, judgement and commands."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.load.engines import make_engine
from bottlenecktop.probes.load.engines.protocol import LoadEngine
from bottlenecktop.probes.load.pacer import Pacer
from bottlenecktop.probes.load.ramp import Ramp, RampSettings, StepPlan, judge
from bottlenecktop.probes.load.stats import Counts, Window
from bottlenecktop.probes.load.target import build_target
from bottlenecktop.probes.samples import LoadPhase, LoadSecond, RampEndReason, StepResult

DOOM_AFTER_S = 0.5  # a step can be cut short on latency or errors once it has been judged this long
TICK_S = 0.1  # how often the controller looks at commands, timeouts and early failure
# The driver is the limit when it sends late, not when it is busy: at 99 % of a core it may still send every
# request on time. Late means its own hand-over lag (engines.base.LATE_S), not a wait for a connection at the
# cap, which is the target being slow.
DRIVER_BUSY_LATE_SHARE = 0.05  # this share of a step's requests left late


async def tick() -> None:
    """Sleep to the next TICK_S mark of the clock: the controller's tasks wake together, one wakeup for all
    (on this kind of box a wakeup from idle costs 10-60 us of CPU, more than the work each does)."""
    await asyncio.sleep(TICK_S - time.monotonic() % TICK_S + 0.0005)


def warmup_seconds(step_seconds: float) -> float:
    """The first part of each step is not judged: connections open, queues from the last step empty."""
    return min(1.0, 0.25 * step_seconds)


class LocalRampController:
    """One driver process that judges its own ramp: it paces the arrivals, judges each step and chooses the next
    rate (a load agent's process only paces: worker/agent.py; the cluster controller judges for all agents)."""

    def __init__(self, config: DriverConfig, emit: Callable[[str, object], None]) -> None:
        self.config = config
        self.emit = emit
        target = build_target(config.url, config.method, config.headers, config.body, config.connect_host)
        self.engine: LoadEngine = make_engine(config, target)
        self.pacer = Pacer(self.engine)
        self.pacer.set_stripe(config.stripe_index, config.stripe_count)
        self.ramp = Ramp(
            RampSettings(
                start_rps=config.start_rps,
                step_factor=config.step_factor,
                step_seconds=config.step_seconds,
                confirm_seconds=config.confirm_seconds,
                search_steps=config.search_steps,
                max_rps=config.max_rps,
                slo_p99_ms=config.slo_p99_ms,
                max_error_rate=config.max_error_rate,
                closed_model=config.closed_model,
                concurrency_steps=config.concurrency_steps,
                max_connections=config.max_connections,
            )
        )
        self.phase: LoadPhase = "ramping"
        self.step = 0
        self.started = time.monotonic()
        self.stopping = False
        self.parent_gone = False
        self.paused = False
        self.holding = False
        self._second_cpu = time.process_time()
        self.second = Window(time.monotonic())  # this second, folded every TICK_S
        self.judged: Window | None = None  # the judged part of the step (None during its warm-up)
        self._over_slo = 0  # judged responses slower than the SLO

    # --- commands

    def command(self, name: str, value: float | str | None) -> None:
        factor = self.config.step_factor
        if isinstance(value, int | float) and value > 0:
            factor = float(value)
        if name == "stop":
            self.stopping = True
        elif name == "pause":
            self.paused = True
        elif name == "resume":
            self.paused = self.holding = False
        elif name == "hold":
            self.holding = True
        elif name in ("raise", "lower"):
            self.holding = True
            if self.config.closed_model:
                n = self.engine.closed_n
                self.engine.set_concurrency(max(1, round(n * factor if name == "raise" else n / factor)))
            else:
                rate = self.pacer.rate * factor if name == "raise" else self.pacer.rate / factor
                if self.config.max_rps is not None:
                    rate = min(rate, self.config.max_rps)
                self.pacer.set_rate(max(rate, 0.1))

    # --- the run

    def now(self) -> float:
        return time.monotonic() - self.config.t0

    async def run(self) -> None:
        loop_tasks = [
            asyncio.create_task(self.pacer.run()),
            asyncio.create_task(self._every_second()),
            asyncio.create_task(self._housekeeping()),
        ]
        reason: RampEndReason = ""
        try:
            plan: StepPlan | None = self.ramp.first()
            while plan is not None:
                if plan.drain:
                    await self._drain()
                result = await self._run_step(plan)
                if result is None:
                    reason = "stopped" if self.stopping else "max-time"
                    break
                self.emit("r", result)
                plan = self.ramp.next(result)
        finally:
            self.pacer.stop()
            self.phase = "done"
            for task in loop_tasks:
                task.cancel()
            if not self.parent_gone:
                self._emit_second()
                self._emit_events()
                self.emit("o", self.ramp.outcome(self.now(), reason))
            self.engine.close()

    def _over_time(self, now: float) -> bool:
        return self.config.max_time is not None and now - self.started >= self.config.max_time

    def _apply(self, plan: StepPlan) -> None:
        self.phase, self.step = plan.phase, plan.index
        if self.config.closed_model:
            self.engine.set_concurrency(plan.concurrency)
        else:
            self.pacer.set_rate(plan.rate)

    async def _run_step(self, plan: StepPlan) -> StepResult | None:
        """Run one plan; a pause or a hold restarts it afterwards. None when stopped or out of time."""
        while True:
            self._apply(plan)
            start = time.monotonic()
            warm, end = start + warmup_seconds(plan.seconds), start + plan.seconds
            cpu0: float | None = None
            held = False
            while True:
                await tick()
                now = time.monotonic()
                if self.stopping or self.parent_gone or self._over_time(now):
                    return None
                if self.paused or self.holding:
                    held = True
                    break
                if cpu0 is None and now >= warm:
                    self._fold(now)  # what came before belongs to the warm-up
                    self.judged = Window(now)
                    self._over_slo = 0
                    cpu0 = time.process_time()
                if cpu0 is not None and self._doomed(plan, now, end):
                    break
                if now >= end:
                    break
            if not held and cpu0 is not None:
                self._fold(now)
                return self._result(plan, start, now, cpu0)
            self.judged = None
            if not await self._wait_while_held():
                return None

    async def _wait_while_held(self) -> bool:
        """Stay paused or at the held rate until resumed; False when stopped or out of time meanwhile."""
        phase = self.phase
        while self.paused or self.holding:
            if self.paused:
                self.phase = "paused"
                if self.pacer.rate:
                    self.pacer.set_rate(0.0)
                self.engine.closed_n = 0
            else:
                self.phase = "holding"
            await tick()
            if self.stopping or self.parent_gone or self._over_time(time.monotonic()):
                return False
        self.phase = phase
        return True

    def _doomed(self, plan: StepPlan, now: float, end: float) -> bool:
        """True once the step has certainly failed on latency or errors: back off now, not at the step's end."""
        st = self.judged
        if st is None or now - st.started < DOOM_AFTER_S:  # requests left over from the step before are not ours
            return False
        expected = (plan.rate if plan.rate else st.completed / max(now - st.started, 1e-3)) * (end - st.started)
        waiting = self.engine.outstanding_over(now, self.config.slo_p99_ms / 1000.0)
        if self._over_slo + waiting > 0.01 * expected + 1:
            return True
        return st.completed >= 20 and st.error_count > self.config.max_error_rate * expected + 1

    def _result(self, plan: StepPlan, start: float, now: float, cpu0: float) -> StepResult:
        st = self.judged
        assert st is not None
        self.judged = None
        window = max(now - st.started, 1e-3)
        # Requests still out count with the age they have reached: a stalled target cannot hide its queue.
        lat = Counts()
        lat.add_counts(st.lat)
        lat.add(self.engine.outstanding_ages_us(now))
        pct = lat.percentiles()
        errors = st.error_count
        error_rate = errors / st.completed if st.completed else (1.0 if errors else 0.0)
        cpu_pct = (time.process_time() - cpu0) / window * 100.0
        late_share = st.late / st.offered if st.offered else 0.0
        driver_busy = late_share > DRIVER_BUSY_LATE_SHARE
        sustained, reason = judge(
            offered=st.offered,
            ok=st.ok,
            p99_ms=pct.p99_ms,
            error_rate=error_rate,
            driver_busy=driver_busy,
            slo_p99_ms=self.config.slo_p99_ms,
            max_error_rate=self.config.max_error_rate,
            closed_model=self.config.closed_model,
        )
        if st.completed == 0 and st.offered == 0:
            sustained, reason = False, "no requests"
        achieved = st.ok / window
        return StepResult(
            step=plan.index,
            phase=plan.phase,
            t_start=start - self.config.t0,
            t_end=now - self.config.t0,
            offered_rps=achieved if self.config.closed_model else st.offered / window,
            achieved_rps=achieved,
            p50_ms=pct.p50_ms,
            p90_ms=pct.p90_ms,
            p99_ms=pct.p99_ms,
            p999_ms=pct.p999_ms,
            max_ms=pct.max_ms,
            error_rate=error_rate,
            errors=st.error_dict(),
            sustained=sustained,
            reason=reason,
            driver_cpu_pct=cpu_pct,
            lag_p99_ms=st.lag.p99_ms(),
            late=st.late,
        )

    async def _drain(self) -> None:
        """Back off: send nothing until the previous step's requests are answered (at most a timeout)."""
        self.pacer.set_rate(0.0)
        self.engine.closed_n = 0
        self.engine.drop_queue()
        deadline = time.monotonic() + self.config.timeout + 0.5
        while self.engine.busy and time.monotonic() < deadline and not (self.stopping or self.parent_gone):
            await asyncio.sleep(0.05)

    # --- background tasks

    def _fold(self, now: float) -> None:
        """Take the hot path's tally into this second and the judged window (counted once for both)."""
        folded = Window.of(self.engine.take_tally(), now)
        self.second.merge(folded)
        if self.judged is not None:
            self.judged.merge(folded)
            self._over_slo += folded.lat.count_above(self.config.slo_p99_ms * 1000.0)

    async def _every_second(self) -> None:
        next_at = time.monotonic() + 1.0
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            self._emit_second()
            next_at = max(next_at + 1.0, time.monotonic() + 0.5)

    def _emit_second(self) -> None:
        now = time.monotonic()
        self._fold(now)
        iv, self.second = self.second, Window(now)
        cpu = time.process_time()
        dt = max(now - iv.started, 1e-3)
        cpu_pct = (cpu - self._second_cpu) / dt * 100.0
        self._second_cpu = cpu
        target_rps = 0.0 if self.config.closed_model else self.pacer.rate
        self.emit("s", second_record(self.engine, iv, t=now - self.config.t0, dt=dt, phase=self.phase,
                                     step=self.step, target_rps=target_rps, cpu_pct=cpu_pct))

    async def _housekeeping(self) -> None:
        parent = os.getppid()
        while True:
            await tick()
            now = time.monotonic()
            self._fold(now)
            self.engine.sweep(now)
            self._emit_events()
            if os.getppid() != parent:  # the parent died and we were re-parented
                self.parent_gone = True

    def _emit_events(self) -> None:
        for line in self.engine.take_events():
            self.emit("e", line)


def second_record(engine: LoadEngine, iv: Window, *, t: float, dt: float, phase: LoadPhase, step: int,
                  target_rps: float, cpu_pct: float) -> LoadSecond:
    """One interval's LoadSecond (``t`` session seconds at its end, ``dt`` its length in seconds)."""
    pct = iv.lat.percentiles()
    return LoadSecond(
        t=t,
        dt=dt,
        phase=phase,
        step=step,
        target_rps=target_rps,
        offered_rps=iv.offered / dt,
        sent=iv.sent,
        completed=iv.completed,
        ok=iv.ok,
        in_flight=engine.in_flight,
        errors=iv.error_dict(),
        achieved_rps=iv.ok / dt,
        p50_ms=pct.p50_ms,
        p90_ms=pct.p90_ms,
        p99_ms=pct.p99_ms,
        p999_ms=pct.p999_ms,
        max_ms=pct.max_ms,
        service_p99_ms=iv.svc.p99_ms(),
        bytes_in=iv.bytes_in,
        hist=iv.lat.encoded(),
        driver_cpu_pct=cpu_pct,
        lag_p99_ms=iv.lag.p99_ms(),
        late=iv.late,
        connections=engine.connections,
        max_connections=engine.max_connections,
        connects=iv.connects,
        queued=engine.queued,
        waited=iv.waited,
        conn_late=iv.waited_late,
        wait_p99_ms=iv.wait.p99_ms(),
    )
