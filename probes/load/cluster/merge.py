"""Several agents' seconds as one: counts summed, latency histograms merged, the busiest agent's CPU and lag.

Pure functions: the controller (cluster.controller) hands them what the agents reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bottlenecktop.probes.load.cluster.messages import AgentSecond
from bottlenecktop.probes.load.stats import Counts
from bottlenecktop.probes.samples import ERROR_CLASSES, AgentFigures, LoadSecond

_SUMMED = ("sent", "completed", "ok", "in_flight", "bytes_in", "late", "connections", "max_connections",
           "connects", "queued", "waited", "conn_late")


@dataclass(frozen=True)
class AgentInfo:
    agent: int
    host: str
    pid: int


def counts_of(second: AgentSecond) -> Counts:
    counts = Counts()
    if second.lat:
        counts.buckets = dict(second.lat)
        counts.total = sum(second.lat.values())
        counts.min_us, counts.max_us = second.lat_min_us, second.lat_max_us
    return counts


def figures(info: AgentInfo, second: AgentSecond) -> AgentFigures:
    load, dt = second.load, max(second.load.dt, 1e-3)
    return AgentFigures(agent=info.agent, host=info.host, pid=info.pid, offered_rps=round(second.offered / dt, 2),
                        achieved_rps=round(load.ok / dt, 2), sent=load.sent, ok=load.ok,
                        cpu_pct=round(load.driver_cpu_pct, 1), lag_p99_ms=round(load.lag_p99_ms, 2), late=load.late,
                        connections=load.connections, max_connections=load.max_connections)


def merge_second(parts: Sequence[tuple[AgentInfo, AgentSecond]], t: float) -> LoadSecond:
    """One LoadSecond of grid second ``parts[*].j`` ending at session time ``t`` (seconds)."""
    assert parts, "a merged second needs at least one agent's"
    loads = [s.load for _, s in parts]
    dt = max(sum(load.dt for load in loads) / len(loads), 1e-3)
    lat = Counts()
    for _, second in parts:
        lat.add_counts(counts_of(second))
    pct = lat.percentiles()
    errors: dict[str, int] = {}
    for load in loads:
        for name, count in load.errors.items():
            errors[name] = errors.get(name, 0) + count
    sums = {name: sum(getattr(load, name) for load in loads) for name in _SUMMED}
    offered = sum(s.offered for _, s in parts)
    first = loads[0]
    return LoadSecond(
        t=t, dt=dt, phase=first.phase, step=first.step, target_rps=max(load.target_rps for load in loads),
        offered_rps=offered / dt, achieved_rps=sums["ok"] / dt,
        errors={name: errors[name] for name in ERROR_CLASSES if errors.get(name)},
        p50_ms=pct.p50_ms, p90_ms=pct.p90_ms, p99_ms=pct.p99_ms, p999_ms=pct.p999_ms, max_ms=pct.max_ms,
        service_p99_ms=max(load.service_p99_ms for load in loads), hist=lat.encoded(),
        driver_cpu_pct=max(load.driver_cpu_pct for load in loads),
        lag_p99_ms=max(load.lag_p99_ms for load in loads),
        wait_p99_ms=max(load.wait_p99_ms for load in loads),
        agents=[figures(info, second) for info, second in parts],
        **sums,
    )


@dataclass
class AgentTotals:
    """One agent over a span of seconds (a judged step, or the whole ramp)."""

    seconds: float = 0.0
    offered: int = 0
    sent: int = 0
    ok: int = 0
    late: int = 0
    cpu_s: float = 0.0  # CPU seconds
    peak_cpu_pct: float = 0.0
    peak_lag_ms: float = 0.0

    def add(self, second: AgentSecond) -> None:
        load = second.load
        self.seconds += load.dt
        self.offered += second.offered
        self.sent += load.sent
        self.ok += load.ok
        self.late += load.late
        self.cpu_s += load.driver_cpu_pct / 100.0 * load.dt
        self.peak_cpu_pct = max(self.peak_cpu_pct, load.driver_cpu_pct)
        self.peak_lag_ms = max(self.peak_lag_ms, load.lag_p99_ms)

    @property
    def cpu_pct(self) -> float:
        return self.cpu_s / self.seconds * 100.0 if self.seconds else 0.0

    @property
    def late_share(self) -> float:
        return self.late / self.offered if self.offered else 0.0


@dataclass
class StepTotals:
    """The judged part of a step over every agent: what ramp.judge needs."""

    seconds: float = 0.0  # merged seconds
    offered: int = 0
    ok: int = 0
    completed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lat: Counts = field(default_factory=Counts)
    lag_p99_ms: float = 0.0
    late: int = 0
    agents: dict[int, AgentTotals] = field(default_factory=dict)

    def add(self, parts: Sequence[tuple[AgentInfo, AgentSecond]], merged: LoadSecond) -> None:
        self.seconds += merged.dt
        self.ok += merged.ok
        self.completed += merged.completed
        self.late += merged.late
        self.lag_p99_ms = max(self.lag_p99_ms, merged.lag_p99_ms)
        for name, count in merged.errors.items():
            self.errors[name] = self.errors.get(name, 0) + count
        for info, second in parts:
            self.offered += second.offered
            self.lat.add_counts(counts_of(second))
            self.agents.setdefault(info.agent, AgentTotals()).add(second)
