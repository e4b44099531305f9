"""Text for headless mode: one progress line per ramp step (stderr) and the short human summary (stdout).

Pure formatting: a StepResult or a verdict dict (schema bottlenecktop.verdict/1) in, text out.
"""

from __future__ import annotations

from typing import Any

from bottlenecktop.analysis.findings import Finding
from bottlenecktop.probes.samples import StepResult


def _rate(x: Any) -> str:
    return "-" if x is None else f"{float(x):,.0f}"


def _ms(x: Any) -> str:
    if x is None:
        return "-"
    x = float(x)
    return f"{x:.1f} ms" if x < 100 else f"{x:,.0f} ms"


def _pct(x: Any) -> str:
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


def _capacity(verdict: dict[str, Any]) -> list[str]:
    cap = verdict.get("capacity") or {}
    slo = cap.get("slo") or {}
    within = f"within the SLO (p99 <= {_ms(slo.get('p99_ms'))}, errors <= {_pct(slo.get('error_rate'))})"
    rps = cap.get("max_sustainable_rps")
    cut = cap.get("ramp_end_reason") == "driver-exited"
    cut_line = "  The run was cut short: the load driver exited before the ramp ended."
    if rps is None:
        if not verdict.get("steps"):
            return ["Magic number: none measured (no load was driven)."] + ([cut_line] if cut else [])
        return [f"Magic number: none; no step was sustained {within}."] + ([cut_line] if cut else [])
    how = "confirmed" if cap.get("confirmed") else "not confirmed by a hold"
    out = [f"Magic number: {_rate(rps)} req/s {within}, {how}; p99 {_ms(cap.get('p99_ms_at_max'))}, "
           f"errors {_pct(cap.get('error_rate_at_max'))} there."]
    if cut:
        out.append("  This is a lower bound: the run was cut short (the load driver exited); it is the best step "
                   "sustained before that.")
    elif cap.get("driver_limited"):
        out.append("  This is a lower bound: the load driver, not the target, was the limit.")
    elif cap.get("lower_bound"):
        out.append(f"  This is a lower bound: the ramp ended ({cap.get('ramp_end_reason')}) before the target "
                   "showed a limit.")
    return out


def _bottleneck(verdict: dict[str, Any]) -> list[str]:
    neck = verdict.get("bottleneck") or {}
    resource = neck.get("resource", "none")
    if resource == "none":
        head = "Bottleneck: none found"
    else:
        head = f"Bottleneck: {resource} ({neck.get('scope')}), confidence {float(neck.get('confidence', 0)):.2f}"
    return [head] + [f"  - {e}" for e in neck.get("evidence") or []]


def _knee_cost_plan(verdict: dict[str, Any]) -> list[str]:
    out = []
    knee = verdict.get("knee")
    if knee:
        out.append(f"Knee: {_rate(knee.get('achieved_rps'))} req/s (p99 {_ms(knee.get('p99_ms'))}); latency climbs "
                   "faster than throughput above it.")
    over = verdict.get("overload")
    if over:
        out.append(f"Overload: {over.get('evidence')}.")
    cost = verdict.get("cost_per_request") or {}
    parts = []
    if cost.get("cpu_ms") is not None:
        parts.append(f"{cost['cpu_ms']:.2f} ms CPU ({cost.get('cpu_source')})")
    if cost.get("bytes") is not None:
        parts.append(f"{cost['bytes'] / 1024:.1f} KiB of response")
    if cost.get("memory_per_in_flight") is not None:
        parts.append(f"{cost['memory_per_in_flight'] / 1024:.0f} KiB of memory per request in flight")
    if parts:
        out.append(f"Cost per request at {_rate(cost.get('at_rps'))} req/s: " + ", ".join(parts) + ".")
        if cost.get("correction"):
            out.append(f"  ({cost['correction']}.)")
    plan = verdict.get("plan")
    if plan:
        if plan.get("machines") is None:
            out.append(f"Plan for {_rate(plan.get('goal_rps'))} req/s: {plan.get('note')}.")
        else:
            met = "reached" if plan.get("goal_met") else "NOT reached"
            out.append(f"Plan for {_rate(plan.get('goal_rps'))} req/s: {plan['machines']} machine(s) like this one, "
                       f"each at most {_rate(plan.get('per_machine_rps'))} req/s ({plan['headroom'] * 100:.0f} % "
                       f"headroom); {plan.get('dominant_resource')} dominates. One machine: goal {met}.")
            if plan.get("note"):
                out.append(f"  ({plan['note']}.)")
    return out


def summary_text(verdict: dict[str, Any]) -> str:
    """The short human summary of a verdict (schema bottlenecktop.verdict/1) for stdout."""
    lines = _capacity(verdict) + _bottleneck(verdict)
    exited = verdict.get("target_exit")
    if exited:
        lines.append(f"Target exit: {exited.get('evidence')}.")
    lines += _knee_cost_plan(verdict)
    neck = (verdict.get("bottleneck") or {}).get("resource")
    others = [f for f in verdict.get("findings") or [] if f.get("resource") not in (neck, "target-exit")]
    if others:
        lines.append("Other findings:")
        lines += [f"  - {f['resource']} ({f['severity']}): {(f.get('evidence') or ['-'])[0]}" for f in others[:5]]
    if verdict.get("recording"):
        lines.append(f"Recording: {verdict['recording']}")
    return "\n".join(lines)
