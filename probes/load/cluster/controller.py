"""The one ramp controller of several load agents: it decides every step with load.ramp over the merged seconds.

It runs on a thread of the bottlenecktop process. Every step (a Segment) starts on a grid second agreed with
all agents; each agent paces its stripe of the global schedule and reports each grid second; a grid second is
merged once every live agent has reported it. A lost agent invalidates the running step: the step is rerun
with the agents left (re-striped), or the ramp ends with ``agent-lost`` when none is left.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import msgspec

from bottlenecktop.probes.load.cluster.merge import AgentInfo, AgentTotals, StepTotals, merge_second
from bottlenecktop.probes.load.cluster.messages import AgentSecond, Segment
from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.load.ramp import Ramp, RampSettings, StepPlan, judge
from bottlenecktop.probes.load.reports import Message
from bottlenecktop.probes.samples import (
    AgentFigures,
    LoadPhase,
    RampEndReason,
    StepResult,
)

LEAD_S = 0.2  # a segment starts on a grid second at least this far ahead, so that every agent has it in time
POLL_S = 0.05  # how often the controller asks the agents for their seconds
LOST_AFTER_S = 3.0  # an agent that has not reported a grid second this long after its end is lost
WARMUP_SECONDS = 1  # the first grid second of a step is not judged (connections open, queues settle)
# The same test as the single driver process (worker.controller): the driver is the limit when it sends late.
AGENT_LATE_SHARE = 0.05


def unsent_arrivals(rate: float, st: StepTotals, stripe: Sequence[int]) -> dict[int, int]:
    """Per agent of the stripe, the arrivals of its share that were due in the judged seconds but that it never
    counted: an agent starved of CPU (or stopped) counts its arrivals only when it runs, so a stalled one looks
    idle, not late, and one that reported none of the judged seconds is not in ``st`` at all. Each agent's share
    is rate / len(stripe) of the schedule; the slack covers the schedule's own variation."""
    out = {}
    for agent in stripe:
        totals = st.agents.get(agent)
        due = rate / len(stripe) * st.seconds
        missing = due - (totals.offered if totals is not None else 0)
        if missing > 3 * math.sqrt(due) + 2:
            out[agent] = round(missing)
    return out

_decode = msgspec.msgpack.Decoder(AgentSecond).decode


class AgentLost(Exception):
    """The agent stopped answering (its worker died or its host went away)."""


class AgentHandle(Protocol):
    info: AgentInfo

    def segment(self, segment: Segment) -> None: ...
    def drain(self, timeout: float, at_wall: float) -> bool: ...  # at_wall: on the agent's clock
    def take(self) -> tuple[list[bytes], list[str], bool]: ...
    def wall_offset(self) -> float: ...  # the agent's wall clock minus ours, seconds


def step_seconds(plan: StepPlan) -> int:
    """Whole grid seconds of a step: the warm-up second plus at least one judged second."""
    return max(WARMUP_SECONDS + 1, round(plan.seconds))


class RampController:
    def __init__(self, config: DriverConfig, agents: list[AgentHandle], out: Callable[[Message], None],
                 say: Callable[[str], None]) -> None:
        self.config = config
        self.agents = list(agents)
        self.live = list(agents)
        self.out = out
        self.say = say
        self.count = len(agents)
        self.ramp = Ramp(RampSettings(
            start_rps=config.start_rps, step_factor=config.step_factor, step_seconds=config.step_seconds,
            confirm_seconds=config.confirm_seconds, search_steps=config.search_steps, max_rps=config.max_rps,
            slo_p99_ms=config.slo_p99_ms, max_error_rate=config.max_error_rate))
        self.stopping = False
        self.paused = False
        self.holding = False
        self.hold_rate: float | None = None
        self.end_reason: RampEndReason = ""
        self.lost: dict[int, str] = {}  # agent number -> why
        self.run_totals: dict[int, AgentTotals] = {}
        self._pending: dict[int, dict[int, AgentSecond]] = {}
        self._last_j: dict[int, int] = {a.info.agent: -(10**9) for a in agents}
        self._merged_upto = -(10**9)
        self._window: tuple[int, int, StepTotals] | None = None  # judged grid seconds [from, to) and their sums
        self._seg = 0
        self._stripe: list[int] = []  # the agents the running segment's schedule is striped over
        self._rate = 0.0
        self._phase: LoadPhase = "ramping"
        self._step = 0
        self._lock = threading.Lock()
        self.epoch_wall = 0.0
        self.epoch_mono = 0.0
        self.started = time.monotonic()

    # --- commands (from the runner's thread)

    def command(self, name: str, value: float | str | None) -> None:
        factor = float(value) if isinstance(value, int | float) and value > 0 else self.config.step_factor
        with self._lock:
            if name == "stop":
                self.stopping = True
            elif name == "pause":
                self.paused = True
            elif name == "resume":
                self.paused = self.holding = False
                self.hold_rate = None
            elif name == "hold":
                self.holding = True
            elif name in ("raise", "lower"):
                self.holding = True
                base = self.hold_rate if self.hold_rate is not None else self._rate
                rate = base * factor if name == "raise" else base / factor
                if self.config.max_rps is not None:
                    rate = min(rate, self.config.max_rps)
                self.hold_rate = max(rate, 0.1)

    # --- the run

    def run(self) -> None:
        """The whole ramp; ends with exactly one RampOutcome handed to ``out``."""
        now_wall, now_mono = time.time(), time.monotonic()
        self.epoch_wall, self.epoch_mono = now_wall + 2 * LEAD_S, now_mono + 2 * LEAD_S
        self.started = now_mono
        reason: RampEndReason = ""
        try:
            plan: StepPlan | None = self.ramp.first()
            while plan is not None:
                if plan.drain:
                    self._drain()
                result = self._run_plan(plan)
                if result is None:
                    reason = self.end_reason or ("stopped" if self.stopping else "max-time")
                    break
                self.out(result)
                plan = self.ramp.next(result)
        except Exception as exc:  # one line for the person, and still exactly one outcome
            self.say(f"the ramp controller failed: {type(exc).__name__}: {exc}")
            reason = "driver-error"
        finally:
            self._wind_down()
            outcome = self.ramp.outcome(time.monotonic() - self.config.t0, reason)
            outcome.agents = self._run_figures()
            self.out(outcome)

    def _over_time(self) -> bool:
        return self.config.max_time is not None and time.monotonic() - self.started >= self.config.max_time

    def _next_j(self) -> int:
        return math.floor(time.time() - self.epoch_wall + LEAD_S) + 1

    def _start_segment(self, plan: StepPlan, rate: float, phase: LoadPhase) -> int:
        j = self._next_j()
        self._seg += 1
        self._rate, self._phase, self._step = rate, phase, plan.index
        self._stripe = [a.info.agent for a in self.live]
        for index, agent in enumerate(list(self.live)):
            seg = Segment(seg=self._seg, step=plan.index, phase=phase, rate=rate, j=j,
                          at_wall=self.epoch_wall + j + agent.wall_offset(), stripe_index=index,
                          stripe_count=len(self.live))
            try:
                agent.segment(seg)
            except Exception:
                self._lose(agent, "stopped answering")
        return j

    def _run_plan(self, plan: StepPlan) -> StepResult | None:
        """Run one plan until its last judged second is merged; None when stopped, out of time or agentless."""
        length = step_seconds(plan)
        while True:
            if not self.live:
                self.end_reason = "agent-lost"
                return None
            live_before = len(self.live)
            j0 = self._start_segment(plan, plan.rate, plan.phase)
            totals = StepTotals()
            self._window = (j0 + WARMUP_SECONDS, j0 + length, totals)
            interrupted = False
            while self._merged_upto < j0 + length - 1:
                time.sleep(POLL_S)
                self._pump()
                if self.stopping or self._over_time():
                    self._window = None
                    return None
                if len(self.live) < live_before:
                    interrupted = True
                    break
                if self.paused or self.holding:
                    self._window = None
                    if not self._hold(plan):
                        return None
                    interrupted = True
                    break
            self._window = None
            if not interrupted:
                return self._result(plan, j0, length, totals)
            if not self.live:
                self.end_reason = "agent-lost"
                return None
            if len(self.live) < live_before:
                self.say(f"step {plan.index} at {plan.rate:.0f} req/s is rerun with {len(self.live)} of "
                         f"{self.count} agents")

    def _hold(self, plan: StepPlan) -> bool:
        """Pause or hold a rate until resumed; False when stopped or out of time meanwhile."""
        current: tuple[bool, float | None] | None = None
        while self.paused or self.holding:
            want = (self.paused, self.hold_rate)
            if want != current:
                current = want
                rate = 0.0 if self.paused else (self.hold_rate if self.hold_rate is not None else self._rate)
                self._start_segment(plan, rate, "paused" if self.paused else "holding")
            time.sleep(POLL_S)
            self._pump()
            if self.stopping or self._over_time() or not self.live:
                return False
        return True

    def _drain(self) -> None:
        """Back off: every agent stops sending until its requests are answered (at most a timeout). They stop at
        one agreed instant a little ahead, as segments start, so that their stripes of the schedule end together."""
        at_wall = time.time() + LEAD_S
        threads = [threading.Thread(target=self._drain_one, args=(a, at_wall), daemon=True) for a in self.live]
        for th in threads:
            th.start()
        deadline = time.monotonic() + LEAD_S + self.config.timeout + 2.0
        while any(th.is_alive() for th in threads) and time.monotonic() < deadline:
            time.sleep(POLL_S)
            self._pump()

    def _drain_one(self, agent: AgentHandle, at_wall: float) -> None:
        with contextlib.suppress(Exception):  # a lost agent shows in the next pump
            agent.drain(self.config.timeout + 1.0, at_wall + agent.wall_offset())

    def _wind_down(self) -> None:
        """Send nothing more and merge the seconds still out, so that nothing an agent measured is lost."""
        if not self.live or self.epoch_wall == 0.0:
            return
        last = self._start_segment(StepPlan(self._step, "ramping", 1.0), 0.0, "done")
        deadline = time.monotonic() + LEAD_S + 2.5
        while self._merged_upto < last and self.live and time.monotonic() < deadline:
            time.sleep(POLL_S)
            self._pump()

    # --- the agents' seconds

    def _lose(self, agent: AgentHandle, why: str) -> None:
        if agent not in self.live:
            return
        self.live.remove(agent)
        self.lost[agent.info.agent] = why
        self.say(f"load agent {agent.info.agent} on {agent.info.host} lost: {why}")

    def _pump(self) -> None:
        for agent in list(self.live):
            try:
                raw, events, exited = agent.take()
            except Exception:
                self._lose(agent, "stopped answering")
                continue
            for line in events:
                self.say(f"agent {agent.info.agent}: {line}")
            for data in raw:
                second = _decode(data)
                self._pending.setdefault(second.j, {})[agent.info.agent] = second
                self._last_j[agent.info.agent] = max(self._last_j[agent.info.agent], second.j)
            if exited:
                self._lose(agent, "its driver process exited")
        now_j = time.time() - self.epoch_wall  # grid position now
        for agent in list(self.live):
            waiting = [j for j in self._pending if j > self._last_j[agent.info.agent]]
            if waiting and now_j - (min(waiting) + 1) > LOST_AFTER_S:
                self._lose(agent, f"no report for {LOST_AFTER_S:.0f} s")
        self._flush()

    def _flush(self) -> None:
        by_number = {a.info.agent: a for a in self.agents}
        live = [a.info.agent for a in self.live]
        for j in sorted(self._pending):
            parts = self._pending[j]
            if not all(n in parts or self._last_j[n] > j for n in live):
                break
            del self._pending[j]
            self._merged_upto = max(self._merged_upto, j)
            if all(s.seg < 0 for s in parts.values()):
                continue  # before the first segment: nothing was sent
            pairs = [(by_number[n].info, parts[n]) for n in sorted(parts)]
            merged = merge_second(pairs, t=self.epoch_mono + j + 1 - self.config.t0)
            for info, second in pairs:
                self.run_totals.setdefault(info.agent, AgentTotals()).add(second)
            window = self._window
            if window is not None and window[0] <= j < window[1]:
                window[2].add(pairs, merged)
            self.out(merged)

    # --- judgement

    def _result(self, plan: StepPlan, j0: int, length: int, st: StepTotals) -> StepResult:
        window = max(st.seconds, 1e-3)
        pct = st.lat.percentiles()
        errors = sum(st.errors.values())
        error_rate = errors / st.completed if st.completed else (1.0 if errors else 0.0)
        unsent = unsent_arrivals(plan.rate, st, self._stripe)
        for n, missing in unsent.items():  # arrivals an agent never got to were not sent on time either
            totals = st.agents.setdefault(n, AgentTotals())
            totals.late += missing
            totals.offered += missing
        offered = st.offered + sum(unsent.values())
        busy = [(n, a) for n, a in st.agents.items() if a.late_share > AGENT_LATE_SHARE]
        sustained, reason = judge(offered=offered, ok=st.ok, p99_ms=pct.p99_ms, error_rate=error_rate,
                                  driver_busy=bool(busy), slo_p99_ms=self.config.slo_p99_ms,
                                  max_error_rate=self.config.max_error_rate)
        if st.completed == 0 and st.offered == 0:
            sustained, reason = False, "no requests"
        if reason == "driver":
            hosts = {a.info.agent: a.info.host for a in self.agents}
            for n, a in sorted(busy, key=lambda item: -item[1].late_share):
                self.say(f"load agent {n} on {hosts.get(n, '?')} sent {a.late_share * 100:.0f} % of its requests "
                         f"late at step {plan.index} ({plan.rate:.0f} req/s, its CPU {a.cpu_pct:.0f} %): "
                         "the load agents are the limit")
        cpu = max((a.cpu_pct for a in st.agents.values()), default=0.0)
        return StepResult(
            step=plan.index, phase=plan.phase, t_start=self.epoch_mono + j0 - self.config.t0,
            t_end=self.epoch_mono + j0 + length - self.config.t0, offered_rps=offered / window,
            achieved_rps=st.ok / window, p50_ms=pct.p50_ms, p90_ms=pct.p90_ms, p99_ms=pct.p99_ms,
            p999_ms=pct.p999_ms, max_ms=pct.max_ms, error_rate=error_rate, errors=dict(st.errors),
            sustained=sustained, reason=reason, driver_cpu_pct=cpu, lag_p99_ms=st.lag_p99_ms,
            late=st.late + sum(unsent.values()))

    def _run_figures(self) -> list[AgentFigures]:
        rows = []
        for agent in self.agents:
            n = agent.info.agent
            tot = self.run_totals.get(n, AgentTotals())
            seconds = max(tot.seconds, 1e-3)
            rows.append(AgentFigures(agent=n, host=agent.info.host, pid=agent.info.pid,
                                     offered_rps=round(tot.offered / seconds, 2),
                                     achieved_rps=round(tot.ok / seconds, 2), sent=tot.sent, ok=tot.ok,
                                     cpu_pct=round(tot.peak_cpu_pct, 1), lag_p99_ms=round(tot.peak_lag_ms, 2),
                                     late=tot.late, lost=n in self.lost))
        return rows
