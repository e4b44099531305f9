"""The verdict (schema bottlenecktop.verdict/1) over a whole timeline, and the cheap live status per tick."""

from __future__ import annotations

import math
from collections.abc import Sequence

from msgspec import UNSET

from bottlenecktop.analysis.agents import agents_report
from bottlenecktop.analysis.attribution import at_knee
from bottlenecktop.analysis.capacity import ceilings, plan, request_cost
from bottlenecktop.analysis.connections import connections_report
from bottlenecktop.analysis.findings import RESOURCES, SATURATED, TARGET_EXIT, Finding, LiveStatus, StatusPhase
from bottlenecktop.analysis.knee import LIMIT_REASONS, Magic, find_knee, magic_number, overload, steps_of, within_slo
from bottlenecktop.analysis.leak import find_leak, leak_finding, sustainable_for
from bottlenecktop.analysis.lifecycle import (
    Away,
    away_spans,
    inconclusive,
    inconclusive_kind,
    spans_of,
    target_changes,
    without_away_steps,
)
from bottlenecktop.analysis.rules.driver import CPU_WARN as DRIVER_CPU_WARN
from bottlenecktop.analysis.use import find_findings
from bottlenecktop.analysis.whatif import admission, what_if
from bottlenecktop.probes.samples import StepResult
from bottlenecktop.session import Frame, Header
from bottlenecktop.verdict_types import (
    SCHEMA,
    Bottleneck,
    Capacity,
    FindingRow,
    Knee,
    SloLimits,
    StepRow,
    TargetExit,
    Verdict,
    VerdictTarget,
)

__all__ = ["SCHEMA", "SUSTAINED_S", "build_verdict", "judging_window", "live_status", "step_rows", "verdict_of"]

SUSTAINED_S = 5.0  # seconds a signal must hold to count
HORIZON_S = 3600.0  # a rate that exhausts memory sooner than this is not sustainable (--horizon)


def _r(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(float(x), digits)


def _driver_starved(frames: Sequence[Frame], findings: list[Finding]) -> Finding | None:
    """When the driver was late on its failed steps while using little CPU of its own on a node whose CPU was
    busy, it waited for a CPU like everyone else: the strongest saturated finding about the target (or the node)
    leads instead, told that the magic number is a lower bound."""
    busy = any(f.resource == "cpu" for f in findings)
    failed = [s for s in steps_of(frames) if s.reason == "driver"]
    if not busy or not failed or max(s.driver_cpu_pct for s in failed) >= DRIVER_CPU_WARN:
        return None
    lead = next((f for f in findings if f.severity == SATURATED and f.resource != "load-driver"), None)
    late = sum(s.late for s in failed)
    if lead is None:
        # A driver that was runnable but late while nearly idle is itself a task that waited for a CPU: with
        # the node's CPU already busy enough to warn, that wait is the evidence the CPU warning lacked.
        lead = next(f for f in findings if f.resource == "cpu")
        lead.severity = SATURATED
        lead.evidence.append(f"the load driver, using at most {max(s.driver_cpu_pct for s in failed):.0f} % of "
                             f"one core, still sent {late} requests late: runnable tasks waited for a CPU")
    note = (f"the load driver sent {late} requests late on {len(failed)} step(s) while using at most "
            f"{max(s.driver_cpu_pct for s in failed):.0f} % of one core: it waited for a CPU on the busy node, "
            "so the magic number is a lower bound")
    if note not in lead.evidence:
        lead.evidence.append(note)
    return lead


def run_failure(frames: Sequence[Frame]) -> str | None:
    """What made the run fail, in one line, when its load driver could not start or died before the ramp ended;
    None when the run did not fail that way."""
    outcome = next((f.outcome for f in reversed(frames) if f.outcome is not None), None)
    if outcome is None or outcome.reason not in ("driver-not-started", "driver-exited"):
        return None
    what = "could not start" if outcome.reason == "driver-not-started" else "exited before the ramp ended"
    return f"the load driver {what}" + (f": {outcome.why}" if outcome.why else "")


def _choose(findings: list[Finding], magic: Magic, hit_limit: bool,
            frames: Sequence[Frame] = ()) -> tuple[Finding | None, float]:
    """The primary bottleneck and a confidence 0..1 from how clear its signal is against the runner-up."""
    ranked = [f for f in findings if f.resource in RESOURCES]
    instead = _driver_starved(frames, ranked)
    if instead is not None:
        ranked = [instead] + [f for f in ranked if f is not instead]
    elif magic.driver_limited:
        lead = next((f for f in ranked if f.resource == "load-driver"), None)
        if lead is not None:
            ranked = [lead] + [f for f in ranked if f is not lead]
    saturated = [f for f in ranked if f.severity == SATURATED]
    if saturated:
        lead, damp = saturated[0], 1.0
    elif hit_limit and ranked:  # the ramp stopped on something: the strongest warning, said with less weight
        lead, damp = ranked[0], 0.5
    else:
        return None, 0.0
    runner = max((f.score for f in ranked if f is not lead), default=0.0)
    separation = min(1.0, max(0.0, lead.score - runner) / 0.3)
    return lead, round(min(1.0, lead.score * (0.6 + 0.4 * separation)) * damp, 2)


MIN_SUSTAINED_S = 3.0


def step_rows(frames: Sequence[Frame]) -> list[StepRow]:
    """The step table of a timeline, as the verdict gives it (rates req/s, latencies ms, rounded)."""
    return [StepRow(offered_rps=_r(s.offered_rps), achieved_rps=_r(s.achieved_rps), p50_ms=_r(s.p50_ms, 2),
                    p99_ms=_r(s.p99_ms, 2), error_rate=_r(s.error_rate, 4), step=s.step, phase=s.phase,
                    sustained=s.sustained, reason=s.reason, t_start=_r(s.t_start), t_end=_r(s.t_end))
            for s in steps_of(frames)]


def _target(header: Header, frames: Sequence[Frame]) -> VerdictTarget:
    pid = header.target.pid
    if pid is None:
        pid = next((f.target.pid for f in frames if f.target is not None), None)
    return VerdictTarget(url=header.target.url, pid=pid)


def judging_window(steps: Sequence[StepResult]) -> float:
    """Seconds a signal must last to count. A short ramp step shows its saturation only while it runs (below the
    limit the queue drains), so a window longer than two steps would miss it; never shorter than MIN_SUSTAINED_S,
    so that a lone spike is still not a verdict."""
    lengths = sorted(s.t_end - s.t_start for s in steps if s.phase == "ramping")
    if not lengths:
        return SUSTAINED_S
    return min(SUSTAINED_S, max(MIN_SUSTAINED_S, float(math.floor(2 * lengths[len(lengths) // 2]))))  # whole ticks


def _away_words(away: Away) -> str:
    """'exited at t=12 s', for a sentence about the target."""
    what = "was stopped (state T)" if away.kind == "stopped" else "exited"
    if away.restarted:
        what = "exited and was restarted"
    return f"{what} at t={away.seen:.0f} s"


def build_verdict(header: Header, frames: Sequence[Frame], recording: str | None = None,
                  goal_rps: float | None = None, horizon_s: float = HORIZON_S) -> Verdict:
    """The verdict, schema bottlenecktop.verdict/1 (DESIGN.md) plus added fields: knee, cost per request,
    overload behaviour, the capacity plan for ``goal_rps`` (req/s), the target's exit, stops and restarts."""
    slo = header.slo
    changes = target_changes(header, frames)
    away = away_spans(changes, header.interval if header.interval > 0 else 1.0)
    gone = inconclusive(frames, away)
    judged = without_away_steps(frames, away)  # the steps the target's absence spoilt say nothing of its limit
    window = judging_window(steps_of(frames))
    steps = steps_of(judged)
    findings = find_findings(header, frames, window, away)
    magic = magic_number(frames, slo)
    knee = find_knee(steps)
    # A ramp ended by the target's absence found no limit of the target's: only a failed step before counts.
    hit_limit = (magic.reason in LIMIT_REASONS and gone is None) or any(not s.sustained for s in steps)
    lower_bound = magic.lower_bound or gone is not None
    behaviour = overload(steps, magic, knee)
    leak = find_leak(frames)
    rate = magic.rps or max((s.achieved_rps for s in steps), default=0.0)
    lasts = sustainable_for(leak, rate) if leak is not None else None
    unsustainable = leak_finding(leak, rate, horizon_s) if leak is not None else None
    if unsustainable is not None:  # memory gone within the horizon at the magic number: nothing else matters first
        for f in findings:
            if f.resource == "memory":
                unsustainable.evidence.extend(e for e in f.evidence if e not in unsustainable.evidence)
        findings = [unsustainable, *(f for f in findings if f.resource != "memory")]
        lead: Finding | None = unsustainable
        confidence = 0.9
    else:
        lead, confidence = _choose(findings, magic, hit_limit, judged)
        weak = lead is None or lead.severity != SATURATED
        if weak and hit_limit and (behaviour is None or behaviour.behaviour != "shed"):
            # No threshold held: rank by what changed across the knee, against the strongest warning.
            knee_lead = at_knee(header, judged, steps)
            if knee_lead is not None and (lead is None or knee_lead.score > lead.score):
                old = next((f for f in findings if f.resource == knee_lead.resource), None)
                if old is not None:
                    knee_lead.evidence.extend(old.evidence)
                findings = [*(f for f in findings if f is not old), knee_lead]
                lead, confidence = knee_lead, round(knee_lead.score, 2)
    duration = frames[-1].t - frames[0].t + header.interval if frames else 0.0
    failure = run_failure(frames)
    if magic.reason == "driver-not-started":  # no load was driven: there is nothing to judge
        assert failure is not None
        lead, findings = None, []
        bottleneck = Bottleneck(resource="none", scope="run", confidence=0.0, evidence=[f"not judged: {failure}"])
    elif lead is not None and lead.resource != TARGET_EXIT:
        evidence = list(lead.evidence)
        if lead.severity != SATURATED and not any(e.startswith("missing: ") for e in evidence):
            evidence.append(f"missing: the leading candidate, {lead.resource}, never stayed past its saturation "
                            f"threshold for {window:.0f} s; the ramp's limit is the reason to name it")
        bottleneck = Bottleneck(resource=lead.resource, scope=lead.scope, confidence=confidence, evidence=evidence)
    else:
        said = (f"no resource stayed saturated for {window:.0f} s or more in the {duration:.0f} s observed"
                if frames else "no frames were recorded")
        if gone is not None:
            said += f"; the run is inconclusive: the target {_away_words(gone)}, before it showed a limit"
        elif magic.lower_bound and magic.rps:
            said += f"; the ramp ended ({magic.reason}) before the target showed a limit"
        elif hit_limit and behaviour is not None and behaviour.behaviour == "shed":
            said += "; past its limit the target sheds load on purpose (fast errors), which is its own policy"
        elif hit_limit:
            said += ("; nothing changed with the load across the knee (CPU, pressure, disks, memory): the latency "
                     "looks like the target's own")
        bottleneck = Bottleneck(resource="none", scope="node",
                                confidence=0.0 if not frames else 0.5 if duration >= 3 * window else 0.2,
                                evidence=[said])
    cost = request_cost(header, judged)
    exited = next((f for f in findings if f.resource == TARGET_EXIT), None)
    verdict = Verdict(
        schema=SCHEMA,
        target=_target(header, frames),
        capacity=Capacity(max_sustainable_rps=_r(magic.rps), p99_ms_at_max=_r(magic.p99_ms, 2),
                          error_rate_at_max=_r(magic.error_rate, 4),
                          slo=SloLimits(p99_ms=slo.p99_ms, error_rate=slo.error_rate),
                          confirmed=magic.confirmed, driver_limited=magic.driver_limited,
                          lower_bound=lower_bound, ramp_end_reason=magic.reason,
                          sustainable_for_s=None if lasts is None else round(lasts)),
        bottleneck=bottleneck,
        findings=[FindingRow(resource=f.resource, severity=f.severity, evidence=list(f.evidence), scope=f.scope,
                             score=f.score, t_start=_r(f.t_start), t_end=_r(f.t_end)) for f in findings],
        steps=step_rows(frames),
        recording=recording,
        knee=None if knee is None else Knee(achieved_rps=_r(knee.achieved_rps), offered_rps=_r(knee.offered_rps),
                                            p99_ms=_r(knee.p99_ms, 2), step=knee.step, t=_r(knee.t_end)),
        overload=behaviour,
        cost_per_request=cost,
        target_exit=None if exited is None else TargetExit(t=_r(exited.t_start), evidence=exited.evidence[0]),
        mode=header.mode,
        duration_s=_r(duration),
        window_s=window,
        failure=UNSET if failure is None else failure,
        inconclusive=UNSET if gone is None else inconclusive_kind(gone),
        target_changes=changes or UNSET,
    )
    named = lead if lead is not None and lead.resource == bottleneck.resource else None
    verdict.what_if = what_if(judged, named, _r(magic.rps), ceilings(header, judged, cost))  # the number as said
    verdict.admission = admission(judged, knee, _r(magic.rps)) if hit_limit else None
    verdict.connections = connections_report(frames)
    agents = agents_report(frames, magic)
    if agents is not None:
        verdict.load = agents
    if goal_rps is not None:
        verdict.plan = plan(goal_rps, magic.rps, bottleneck.resource, ceilings(header, judged, cost),
                            lower_bound)
    return verdict


def verdict_of(header: Header, frames: Sequence[Frame], recorded: Verdict | None,
               recording: str | None = None) -> Verdict:
    """The verdict of a recorded session: the one it holds, else built from its frames (a run killed before
    its verdict was written). Replay, compare, report and the screen all ask this one."""
    if recorded is not None:
        return recorded
    return build_verdict(header, frames, recording=recording)


def live_status(header: Header, frames: Sequence[Frame], window_s: float = SUSTAINED_S) -> LiveStatus:
    """The recent picture, cheap enough for every tick: findings over the last few windows, the magic number
    so far (req/s), the driver's phase and last rates."""
    if not frames:
        return LiveStatus(phase="observing" if header.mode in ("observe", "attach") else "starting")
    interval = header.interval if header.interval > 0 else 1.0
    recent = frames[-max(3, math.ceil(2 * window_s / interval) + 1):]
    away = spans_of(header, frames)  # over every frame: a stop that began before the recent window still holds
    findings = find_findings(header, recent, window_s, away)
    load = next((f.load for f in reversed(recent) if f.load is not None), None)
    outcome = next((f.outcome for f in reversed(frames) if f.outcome is not None), None)
    if outcome is not None:
        magic, lower = outcome.max_sustainable_rps, outcome.driver_limited
    else:
        good = [s.achieved_rps for s in steps_of(frames) if within_slo(s, header.slo)]
        magic, lower = (max(good) if good else None), False
    ranked = [f for f in findings if f.resource != TARGET_EXIT] or findings
    leading = ranked[0] if ranked else None
    if leading is not None and leading.resource == "load-driver" and leading.severity == SATURATED:
        lower = True
    if inconclusive(frames, away) is not None:
        lower = True
    phase: StatusPhase = "done" if outcome is not None else load.phase if load is not None else (
        "observing" if header.mode in ("observe", "attach") else "starting")
    return LiveStatus(t=frames[-1].t, phase=phase, leading=leading, findings=findings, magic_rps=magic,
                      lower_bound=lower, offered_rps=load.offered_rps if load else None,
                      achieved_rps=load.achieved_rps if load else None, p99_ms=load.p99_ms if load else None)
