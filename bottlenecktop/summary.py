"""Text for headless mode: one progress line per ramp step (stderr) and the short human summary (stdout).

Pure formatting: a StepResult or a Verdict in, text out.
"""

from __future__ import annotations

from typing import TypeVar

from msgspec import UnsetType

from bottlenecktop.analysis.findings import Finding
from bottlenecktop.probes.samples import StepResult
from bottlenecktop.verdict_types import Cost, LoadAgents, Plan, TargetChange, Verdict

T = TypeVar("T")


def _rate(x: float | None) -> str:
    return "-" if x is None else f"{float(x):,.0f}"


def _ms(x: float | None) -> str:
    if x is None:
        return "-"
    x = float(x)
    return f"{x:.1f} ms" if x < 100 else f"{x:,.0f} ms"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{float(x) * 100:.2f} %".replace(".00 %", " %")


def progress_line(step: StepResult, leading: Finding | None) -> str:
    """'step 3 ramping  offered 150 req/s  achieved 149 req/s  p99 12.3 ms  errors 0 %  ok | leading: ...'."""
    status = "ok" if step.sustained else f"NOT sustained ({step.reason or 'limit'})"
    line = (f"step {step.step:>2} {step.phase:<10} offered {_rate(step.offered_rps):>7} req/s  achieved "
            f"{_rate(step.achieved_rps):>7} req/s  p99 {_ms(step.p99_ms):>9}  errors {_pct(step.error_rate):>7}  "
            f"{status}")
    if leading is not None:
        line += f" | {leading.resource} {leading.severity} ({leading.scope})"
    return line


def _set(x: T | UnsetType) -> T | None:
    return None if isinstance(x, UnsetType) else x


def _first(changes: list[TargetChange], kind: str, after: float = -1.0) -> TargetChange | None:
    return next((c for c in changes if c.kind == kind and c.t >= after), None)


def _pid(c: TargetChange) -> str:
    return f" (pid {c.pid})" if c.pid is not None else ""


def _away(verdict: Verdict) -> str | None:
    """What made the run inconclusive, in words: 'the target (pid 4242) exited at t=12 s', or None."""
    why = _set(verdict.inconclusive)
    changes = _set(verdict.target_changes) or []
    if why is None:
        return None
    if why == "target-stopped":
        stop = _first(changes, "stopped")
        if stop is None:
            return "the target was stopped"
        back = _first(changes, "resumed", stop.t)
        until = f" until t={back.t:.0f} s" if back is not None else " and never resumed"
        return f"the target{_pid(stop)} was stopped (state T, as by SIGSTOP) at t={stop.t:.0f} s{until}"
    died = _first(changes, "exited")
    said = f"the target{_pid(died)} exited (killed or crashed) at t={died.t:.0f} s" if died is not None else (
        "the target exited")
    new = _first(changes, "restarted", died.t if died is not None else -1.0)
    if why == "target-restarted" and new is not None:
        said += f", and pid {new.pid} took over its port at t={new.t:.0f} s" if new.pid is not None else (
            f", and a new process took over its port at t={new.t:.0f} s")
    return said


def _changes(verdict: Verdict) -> list[str]:
    """The target's stops, resumes, exits and restarts in time order (an exit alone has its own line)."""
    changes = _set(verdict.target_changes) or []
    if all(c.kind == "exited" for c in changes):
        return []
    words = {"exited": "exited", "stopped": "was stopped", "resumed": "resumed", "restarted": "took over its port"}
    said = [f"{f'pid {c.pid}' if c.pid is not None else 'the target'} {words[c.kind]} at t={c.t:.0f} s"
            for c in changes]
    return ["Target: " + "; ".join(said) + "."]


def _capacity(verdict: Verdict) -> list[str]:
    cap = verdict.capacity
    within = f"within the SLO (p99 <= {_ms(cap.slo.p99_ms)}, errors <= {_pct(cap.slo.error_rate)})"
    rps = cap.max_sustainable_rps
    if cap.ramp_end_reason == "driver-not-started":
        return [f"The run failed: {verdict.failure or 'the load driver could not start'}.",
                "Magic number: none measured (no load was driven)."]
    cut = cap.ramp_end_reason == "driver-exited"
    cut_line = f"  The run was cut short: {verdict.failure or 'the load driver exited before the ramp ended'}."
    away = _away(verdict)
    away_line = f"  The run is inconclusive: {away}." if away is not None else None
    if rps is None:
        if not verdict.steps:
            head = "Magic number: none measured (no load was driven)."
        else:
            head = f"Magic number: none; no step was sustained {within}."
        return [head] + ([cut_line] if cut else []) + ([away_line] if away_line else [])
    how = "confirmed" if cap.confirmed else "not confirmed by a hold"
    out = [f"Magic number: {_rate(rps)} req/s {within}, {how}; p99 {_ms(cap.p99_ms_at_max)}, "
           f"errors {_pct(cap.error_rate_at_max)} there."]
    if cut:
        out.append("  This is a lower bound: the run was cut short (the load driver exited); it is the best step "
                   "sustained before that.")
    elif away is not None:
        out.append(f"  This is a lower bound: {away}, before the ramp found the target's limit; the run is "
                   "inconclusive.")
    elif cap.driver_limited:
        out.append("  This is a lower bound: the load driver, not the target, was the limit.")
    elif cap.lower_bound:
        out.append(f"  This is a lower bound: the ramp ended ({cap.ramp_end_reason}) before the target "
                   "showed a limit.")
    if cap.sustainable_for_s is not None:
        out.append(f"  Sustainable for about {cap.sustainable_for_s:,.0f} s only: at that rate memory runs out "
                   "(memory leak; see the evidence).")
    return out


def _bottleneck(verdict: Verdict) -> list[str]:
    neck = verdict.bottleneck
    if verdict.capacity.ramp_end_reason == "driver-not-started":
        return ["Bottleneck: not judged (no load was driven)."]
    if neck.resource == "none":
        head = "Bottleneck: none found"
    else:
        head = f"Bottleneck: {neck.resource} ({neck.scope}), confidence {neck.confidence:.2f}"
    return [head] + [f"  - {e}" for e in neck.evidence]


def _cost(cost: Cost | None) -> list[str]:
    if cost is None:
        return []
    parts = []
    cpu_ms, size, memory = _set(cost.cpu_ms), _set(cost.bytes), _set(cost.memory_per_in_flight)
    if cpu_ms is not None:
        parts.append(f"{cpu_ms:.2f} ms CPU ({_set(cost.cpu_source)})")
    if size is not None:
        parts.append(f"{size / 1024:.1f} KiB of response")
    if memory is not None:
        parts.append(f"{memory / 1024:.0f} KiB of memory per request in flight")
    if not parts:
        return []
    out = [f"Cost per request at {_rate(cost.at_rps)} req/s: " + ", ".join(parts) + "."]
    if _set(cost.correction):
        out.append(f"  ({cost.correction}.)")
    return out


def _plan(plan: Plan | UnsetType) -> list[str]:
    if isinstance(plan, UnsetType):
        return []
    if plan.machines is None:
        return [f"Plan for {_rate(plan.goal_rps)} req/s: {_set(plan.note)}."]
    met = "reached" if plan.goal_met else "NOT reached"
    out = [f"Plan for {_rate(plan.goal_rps)} req/s: {plan.machines} machine(s) like this one, each at most "
           f"{_rate(_set(plan.per_machine_rps))} req/s ({plan.headroom * 100:.0f} % headroom); "
           f"{_set(plan.dominant_resource)} dominates. One machine: goal {met}."]
    if _set(plan.note):
        out.append(f"  ({plan.note}.)")
    return out


def _knee_cost_plan(verdict: Verdict) -> list[str]:
    out = []
    knee = verdict.knee
    if knee is not None:
        out.append(f"Knee: {_rate(knee.achieved_rps)} req/s (p99 {_ms(knee.p99_ms)}); latency climbs "
                   "faster than throughput above it.")
    if verdict.overload is not None:
        out.append(f"Overload: {verdict.overload.evidence}.")
    return out + _cost(verdict.cost_per_request) + _plan(verdict.plan)


def _agents(load: LoadAgents | UnsetType) -> list[str]:
    """One line per load agent (several agents only): who sent what, on which host, at what cost."""
    if isinstance(load, UnsetType) or not load.agents:
        return []
    at = f" at {_rate(load.at_rps)} req/s" if load.at_rps is not None else ""
    out = [f"Load agents: {load.count}{at}"]
    for a in load.agents:
        lost = ", LOST" if a.lost else ""
        out.append(f"  - agent {a.agent} on {a.host or '?'} (driver pid {a.pid}): {_rate(a.achieved_rps)} of "
                   f"{_rate(a.offered_rps)} req/s, CPU {a.cpu_pct:.0f} % (peak {a.peak_cpu_pct:.0f} %), "
                   f"{a.late} late{lost}")
    if load.limit:
        out.append(f"  {load.limit}")
    return out


def _next_question(verdict: Verdict) -> list[str]:
    """What it would take to go higher, and where to put the breaker."""
    out = [f"What if: {w.change}: about {_rate(w.estimate_rps)} req/s (x{w.factor:.2f}; estimate, {w.basis})."
           for w in verdict.what_if]
    a = verdict.admission
    if a is not None:
        out.append(f"Admission: let at most {a.max_in_flight} requests in at once and refuse above "
                   f"{_rate(a.refuse_above_rps)} req/s ({a.basis}).")
    c = verdict.connections
    if c is not None and c.waited_late > 0:  # only when the wait is part of what the numbers mean
        out.append(f"Connections: {c.effect}.")
    return out


def summary_text(verdict: Verdict) -> str:
    """The short human summary of a verdict for stdout."""
    lines = _capacity(verdict) + _bottleneck(verdict) + _next_question(verdict)
    if verdict.target_exit is not None:
        lines.append(f"Target exit: {verdict.target_exit.evidence}.")
    lines += _changes(verdict)
    lines += _knee_cost_plan(verdict) + _agents(verdict.load)
    neck = verdict.bottleneck.resource
    others = [f for f in verdict.findings if f.resource not in (neck, "target-exit")]
    if others:
        lines.append("Other findings:")
        lines += [f"  - {f.resource} ({f.severity}): {(f.evidence or ['-'])[0]}" for f in others[:5]]
    if verdict.recording:
        lines.append(f"Recording: {verdict.recording}")
    return "\n".join(lines)
