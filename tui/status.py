"""What the verdict bar says: the leading finding, the magic number, the ramp phase, or the final verdict.

The analysis does the judging (``bottlenecktop.analysis.verdict.live_status``); this module only turns its answer,
or ``session.verdict`` once the run is over, into one line with a severity for the bar's colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bottlenecktop.session import Frame, Header

try:  # the analysis is written in parallel; the bar still shows phase and magic number without it
    from bottlenecktop.analysis.verdict import live_status as _live_status
except ImportError:  # pragma: no cover - depends on what has landed
    _live_status = None


@dataclass(frozen=True)
class BarStatus:
    severity: str  # saturated | warning | ok | exited | final
    finding: str  # "cpu-thread saturated · pid 4242 thread MainThread: <evidence>", or "" when none
    magic_rps: float | None  # the magic number so far (req/s), None until known
    phase: str  # ramping | searching | confirming | holding | paused | done | observing
    final: bool = False  # from session.verdict
    resource: str | None = None  # the leading resource (DESIGN.md name), which the resource plot brings out


def _first(obj: object, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _finding_text(resource: str, severity: str, scope: str, evidence: Sequence[str]) -> str:
    head = f"{resource} {severity}" + (f" · {scope}" if scope else "")
    return head + (f": {evidence[0]}" if evidence else "")


def _exit_event(frames: Sequence[Frame]) -> str | None:
    """The target's exit, if the timeline shows one: an event, or a sample with alive False."""
    for frame in reversed(frames[-120:]):
        for event in frame.events:
            if "exited" in event:
                return f"{event} at {frame.t:.0f} s"
        if frame.target is not None and not frame.target.alive:
            return f"target pid {frame.target.pid} exited at {frame.t:.0f} s"
    return None


def _fallback_magic(frames: Sequence[Frame]) -> float | None:
    for frame in reversed(frames):
        if frame.outcome is not None:
            return frame.outcome.max_sustainable_rps
    best = [f.step.achieved_rps for f in frames if f.step is not None and f.step.sustained]
    return max(best) if best else None


def bar_status(header: Header, frames: Sequence[Frame], verdict: dict[str, Any] | None = None) -> BarStatus:
    """The bar's content for the frames so far; ``verdict`` (bottlenecktop.verdict/1) wins when given."""
    last_load = next((f.load for f in reversed(frames[-10:]) if f.load is not None), None)
    phase = last_load.phase if last_load is not None else ("observing" if header.mode in ("observe", "attach")
                                                           else "starting")
    exited = _exit_event(frames)
    if verdict is not None:
        capacity = verdict.get("capacity") or {}
        neck = verdict.get("bottleneck") or {}
        name = str(neck.get("resource", "none"))
        text = _finding_text(name, "is the bottleneck" if name != "none" else "no bottleneck found",
                             str(neck.get("scope", "")), list(neck.get("evidence") or []))
        if exited:
            text = f"{exited} · {text}"
        return BarStatus("exited" if exited else "final", text, capacity.get("max_sustainable_rps"), "done",
                         final=True, resource=None if name == "none" else name)
    magic: float | None = None
    text, severity = "", "ok"
    resource: str | None = None
    if _live_status is not None and frames:
        live = _live_status(header, frames)
        magic = _first(live, "magic_rps", "max_sustainable_rps", "magic_number")
        phase = _first(live, "phase") or phase
        leading = _first(live, "leading", "finding", "leading_finding")
        if leading is not None:
            severity = str(getattr(leading, "severity", "warning"))
            resource = str(leading.resource)
            text = _finding_text(str(leading.resource), severity, str(getattr(leading, "scope", "")),
                                 list(getattr(leading, "evidence", []) or []))
    if magic is None:
        magic = _fallback_magic(frames)
    if exited:
        return BarStatus("exited", exited + (f" · {text}" if text else ""), magic, phase, resource=resource)
    return BarStatus(severity, text, magic, phase, resource=resource)

