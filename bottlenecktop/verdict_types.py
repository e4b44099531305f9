"""The verdict as types, schema bottlenecktop.verdict/1 (DESIGN.md "The verdict file"), and the names it uses.

The analysis builds a ``Verdict``; summary, report, compare, the screen and the recording read its fields. Its
JSON is the verdict file field for field. Every field has a default, so that a verdict written by an older
version (or a partial one) still decodes; a field left ``UNSET`` is left out of the JSON (the plan without
--goal-rps, a cost that was not measured). It lives beside the session, not in analysis, because the session
holds the final verdict and analysis reads the session: one way, no cycle.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import msgspec
from msgspec import UNSET, UnsetType

from bottlenecktop.probes.samples import RampEndReason, StepFailure, StepPhase

SCHEMA = "bottlenecktop.verdict/1"

# How a session was run (replay, compare and report read a recording of one of these).
Mode = Literal["observe", "attach", "ramp", "demo"]
# The bottleneck vocabulary of DESIGN.md.
Resource = Literal["cpu", "cpu-thread", "memory", "disk", "network", "accept-queue", "fds", "lock", "downstream",
                   "load-driver"]
RESOURCES: tuple[Resource, ...] = get_args(Resource)
# What a verdict names when nothing is saturated.
BottleneckResource = Resource | Literal["none"]
# A finding is about a resource, or the target exiting (told, never named as the bottleneck).
FindingResource = Resource | Literal["target-exit"]
Severity = Literal["saturated", "warning"]
# Why the magic number is what it is: how the ramp ended, or why there is no outcome to say so.
MagicReason = RampEndReason | Literal["no step sustained", "no steps", "ramp not finished"]
Overload = Literal["shed", "collapse", "queue"]
# What happened to the target process during the run: it exited (killed, crashed), was stopped (state T, as by
# SIGSTOP), resumed after a stop, or a new process took over its port after it exited (the run then followed it).
TargetChangeKind = Literal["exited", "stopped", "resumed", "restarted"]
# Why a ramp's verdict is inconclusive: the target went away or stopped serving mid-ramp, so the ramp's limit
# (and anything seen while it was gone) says nothing about its capacity; the magic number is a lower bound.
Inconclusive = Literal["target-exited", "target-stopped", "target-restarted"]


class VerdictTarget(msgspec.Struct, kw_only=True):
    url: str | None = None
    pid: int | None = None


class SloLimits(msgspec.Struct, kw_only=True):
    p99_ms: float = 500.0
    error_rate: float = 0.01  # 0..1


class Capacity(msgspec.Struct, kw_only=True):
    """The magic number: the highest rate sustained within the SLO, req/s, and what is known about it."""

    max_sustainable_rps: float | None = None
    p99_ms_at_max: float | None = None
    error_rate_at_max: float | None = None
    slo: SloLimits = msgspec.field(default_factory=SloLimits)
    confirmed: bool = False  # held for the confirmation window
    driver_limited: bool = False
    lower_bound: bool = False  # the target may sustain more
    ramp_end_reason: MagicReason = ""
    # Seconds the magic number can be held before the target's memory (or its cgroup's limit) is gone, when it
    # keeps memory per request (a leak); None: no such limit was seen.
    sustainable_for_s: float | None = None


class Bottleneck(msgspec.Struct, kw_only=True):
    resource: BottleneckResource = "none"
    scope: str = "node"  # "node", "pid 4242", "pid 4242 thread MainThread", "driver pid 99"
    confidence: float = 0.0  # 0..1
    evidence: list[str] = []


class FindingRow(msgspec.Struct, kw_only=True):
    resource: FindingResource
    severity: Severity
    evidence: list[str] = []
    scope: str = ""
    score: float = 0.0  # 0..1
    t_start: float | None = None  # session seconds
    t_end: float | None = None


class StepRow(msgspec.Struct, kw_only=True):
    offered_rps: float | None = None
    achieved_rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    error_rate: float | None = None  # 0..1
    step: int = 0
    phase: StepPhase = "ramping"
    sustained: bool = True
    reason: StepFailure = ""
    t_start: float | None = None  # session seconds
    t_end: float | None = None


class Knee(msgspec.Struct, kw_only=True):
    achieved_rps: float | None = None
    offered_rps: float | None = None
    p99_ms: float | None = None
    step: int = 0
    t: float | None = None  # session seconds of the knee step's end


class GoodputPoint(msgspec.Struct, kw_only=True):
    offered_rps: float
    achieved_rps: float
    p99_ms: float
    error_rate: float


class OverloadBehaviour(msgspec.Struct, kw_only=True):
    """How the target behaved past the knee."""

    behaviour: Overload
    peak_goodput_rps: float
    goodput_past_knee: list[GoodputPoint] = []
    evidence: str = ""


class Cost(msgspec.Struct, kw_only=True):
    """What one request costs at the knee; each part only when it was measured."""

    at_rps: float = 0.0  # req/s of the step it was measured over
    step: int = 0
    cpu_ms: float | UnsetType = UNSET  # CPU ms per request
    cpu_source: str | UnsetType = UNSET  # "pid 4242" or "node"
    node_cpu_ms: float | UnsetType = UNSET  # the node's CPU ms per request, the observer's taken out
    correction: str | UnsetType = UNSET  # what was taken out, said for a person
    bytes: float | UnsetType = UNSET  # response bytes per request
    memory_per_in_flight: int | UnsetType = UNSET  # bytes of target memory per request in flight


class Plan(msgspec.Struct, kw_only=True):
    """Machines needed for a goal rate (req/s) with headroom."""

    goal_rps: float
    headroom: float
    goal_met: bool
    per_machine_rps: float | UnsetType = UNSET
    machines: int | None = None
    dominant_resource: str | UnsetType = UNSET
    ceilings_rps: dict[str, float] | UnsetType = UNSET
    note: str | UnsetType = UNSET


class TargetExit(msgspec.Struct, kw_only=True):
    t: float | None = None  # session seconds
    evidence: str = ""


class TargetChange(msgspec.Struct, kw_only=True):
    """One change of the target process, as the timeline shows it."""

    kind: TargetChangeKind
    t: float  # session seconds of the tick it was seen in (it happened within the tick before)
    pid: int | None = None  # the process it happened to (restarted: the new process, which the run followed)
    evidence: str = ""  # what the tick loop said, for a person


class AgentRow(msgspec.Struct, kw_only=True):
    """One load agent of a ramp driven by several (--agents, --cluster)."""

    agent: int
    host: str = ""
    pid: int = 0  # its driver process on that host
    achieved_rps: float = 0.0  # at the step the magic number comes from, req/s
    offered_rps: float = 0.0  # its stripe of that step's schedule, req/s
    cpu_pct: float = 0.0  # its driver process at that step, % of one core
    peak_cpu_pct: float = 0.0  # over the whole ramp
    late: int = 0  # requests it could not send on time, whole ramp
    lag_p99_ms: float = 0.0  # its worst second
    lost: bool = False


class LoadAgents(msgspec.Struct, kw_only=True):
    """The load agents beside the merged figures: who did what, and whether one of them was the limit."""

    count: int = 0
    at_rps: float | None = None  # the rate of the step the per-agent figures are taken at
    agents: list[AgentRow] = []
    limiting_agent: int | None = None  # the agent that was the limit (late, busy), when the agents were
    limit: str = ""  # that, said for a person
    suggested_agents: int | None = None  # how many agents the next run needs when they were the limit


class WhatIf(msgspec.Struct, kw_only=True):
    """An estimate of the capacity after one change to the bottleneck, from what was measured."""

    resource: str
    change: str  # "the time each request holds the lock halved"
    estimate_rps: float  # the magic number after it, capped by the other measured ceilings
    factor: float  # estimate / magic number
    basis: str  # the law and the figures it used


class Admission(msgspec.Struct, kw_only=True):
    """Where a load shedder or rate limiter in front of the target should start refusing."""

    max_in_flight: int  # requests let in at once (Little's law at the knee)
    refuse_above_rps: float  # the magic number
    basis: str


class Connections(msgspec.Struct, kw_only=True):
    """The driver's connections in a ramp: the cap, how far they grew, and who waited for one."""

    cap: int = 0  # the driver's cap on open connections (--connections; 0: not reported)
    peak: int = 0  # most open in any second
    capped: bool = False  # they grew to the cap
    waited: int = 0  # requests that found no free connection and waited for one
    waited_late: int = 0  # ... over the late threshold (50 ms)
    wait_p99_ms: float = 0.0  # the worst second's p99 of that wait, from each request's intended time
    from_rps: float | None = None  # the offered rate at which requests first waited over the threshold
    from_t: float | None = None  # and when (session seconds)
    effect: str = ""  # all that, said for a person


class Verdict(msgspec.Struct, kw_only=True):
    """The verdict over a whole timeline: the fields of the verdict file, in its order."""

    schema: str = SCHEMA
    target: VerdictTarget = msgspec.field(default_factory=VerdictTarget)
    capacity: Capacity = msgspec.field(default_factory=Capacity)
    bottleneck: Bottleneck = msgspec.field(default_factory=Bottleneck)
    findings: list[FindingRow] = []
    steps: list[StepRow] = []
    recording: str | None = None
    knee: Knee | None = None
    overload: OverloadBehaviour | None = None
    cost_per_request: Cost | None = None
    target_exit: TargetExit | None = None
    mode: Mode = "observe"
    duration_s: float | None = None
    window_s: float | None = None
    plan: Plan | UnsetType = UNSET  # only with --goal-rps
    load: LoadAgents | UnsetType = UNSET  # only with several load agents
    what_if: list[WhatIf] = []  # what it would take to go higher, where a law applies to the bottleneck
    admission: Admission | None = None
    connections: Connections | None = None  # a ramp's connections to the target (None: no driver)
    failure: str | UnsetType = UNSET  # only when the run failed: what made it, in one line (the driver could not start)
    # Only when the target exited, stopped or was restarted while the ramp ran: the first of those (the run is
    # inconclusive, its magic number a lower bound), and every change of the target in time order.
    inconclusive: Inconclusive | UnsetType = UNSET
    target_changes: list[TargetChange] | UnsetType = UNSET

    def to_json_dict(self) -> dict[str, Any]:
        """The verdict file's JSON object (UNSET fields left out)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


def verdict_from_json(data: object) -> Verdict | None:
    """A verdict decoded from its JSON object (a recording's verdict record), or None when it does not fit."""
    try:
        return msgspec.convert(data, Verdict)
    except msgspec.ValidationError:
        return None
