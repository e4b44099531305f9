"""What the verdict bar says: the leading finding, the magic number, the ramp phase, or the final verdict.

The analysis does the judging (``bottlenecktop.analysis.verdict.live_status``); this module only turns its answer,
or ``session.verdict`` once the run is over, into one line with a severity for the bar's colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bottlenecktop.analysis import verdict as analysis
from bottlenecktop.analysis.findings import StatusPhase as Phase
from bottlenecktop.session import Frame, Header
from bottlenecktop.verdict_types import Verdict

BarSeverity = Literal["saturated", "warning", "ok", "exited", "final"]


@dataclass(frozen=True)
class BarStatus:
    severity: BarSeverity
    finding: str  # "cpu-thread saturated · pid 4242 thread MainThread: <evidence>", or "" when none
    magic_rps: float | None  # the magic number so far (req/s), None until known
    phase: Phase
    final: bool = False  # from session.verdict
    resource: str | None = None  # the leading finding's resource, which the resource plot brings out
    lower_bound: bool = False  # the driver was the limit: the magic number is at least this
    next_step: str = ""  # once final: what it would take to go higher, and where to refuse (a second line)


def _finding_text(resource: str, severity: str, scope: str, evidence: Sequence[str]) -> str:
    # The evidence names the scope already ("thread MainThread of pid 4242 at 99 %..."): on 80 columns every
    # cell goes to it.
    if evidence:
        return f"{resource} {severity}: {evidence[0]}"
    return f"{resource} {severity}" + (f" · {scope}" if scope else "")


def _exit_event(frames: Sequence[Frame]) -> str | None:
    """The target's exit or stop, if the timeline's latest change of the target is one: the tick loop's event,
    or a sample with alive False; None once it resumed or a new process took over its port."""
    for frame in reversed(frames[-120:]):
        for event in reversed(frame.events):
            if event.kind in ("target-restarted", "target-resumed"):
                return None
            if event.kind in ("target-exit", "target-stopped"):
                return event.text
        if frame.target is not None and not frame.target.alive:
            return f"target pid {frame.target.pid} exited at {frame.t:.0f} s"
    return None


def next_step(verdict: Verdict) -> str:
    """'what if the lock's hold time halved: ~400 req/s (x2.00) · admit 4 at once, refuse above 197 req/s'."""
    parts = [f"what if {w.change}: ~{w.estimate_rps:,.0f} req/s (x{w.factor:.2f}, estimate)"
             for w in verdict.what_if[:1]]
    if verdict.admission is not None:
        a = verdict.admission
        parts.append(f"admit {a.max_in_flight} at once, refuse above {a.refuse_above_rps:,.0f} req/s")
    return " · ".join(parts)


def bar_status(header: Header, frames: Sequence[Frame], verdict: Verdict | None = None) -> BarStatus:
    """The bar's content for the frames so far; ``verdict`` (the run's final one) wins when given."""
    last_load = next((f.load for f in reversed(frames[-10:]) if f.load is not None), None)
    phase: Phase = last_load.phase if last_load is not None else (
        "observing" if header.mode in ("observe", "attach") else "starting")
    exited = _exit_event(frames)
    if verdict is not None:
        neck = verdict.bottleneck
        name = neck.resource
        text = _finding_text(name, "is the bottleneck" if name != "none" else "no bottleneck found",
                             neck.scope, neck.evidence)
        if verdict.capacity.ramp_end_reason == "driver-not-started":
            text = ""  # nothing was judged: the failure is the whole story
        if exited:
            text = f"{exited} · {text}" if text else exited
        if isinstance(verdict.inconclusive, str):
            text = f"inconclusive: {text}"
        if isinstance(verdict.failure, str):
            text = f"the run failed: {verdict.failure}" + (f" · {text}" if text else "")
            return BarStatus("exited", text, verdict.capacity.max_sustainable_rps, "failed", final=True,
                             resource=None if name == "none" else name, lower_bound=verdict.capacity.lower_bound)
        return BarStatus("exited" if exited else "final", text, verdict.capacity.max_sustainable_rps, "done",
                         final=True, resource=None if name == "none" else name, next_step=next_step(verdict),
                         lower_bound=verdict.capacity.lower_bound)
    magic: float | None = None
    text, lower_bound = "", False
    severity: BarSeverity = "ok"
    resource: str | None = None
    if frames:
        live = analysis.live_status(header, frames)
        magic, phase, lower_bound = live.magic_rps, live.phase or phase, live.lower_bound
        leading = live.leading
        if leading is not None:
            resource = leading.resource
            severity = "exited" if resource == "target-exit" else leading.severity
            text = _finding_text(resource, leading.severity, leading.scope, leading.evidence)
    if exited:
        return BarStatus("exited", exited + (f" · {text}" if text else ""), magic, phase, resource=resource,
                         lower_bound=lower_bound)
    return BarStatus(severity, text, magic, phase, resource=resource, lower_bound=lower_bound)

