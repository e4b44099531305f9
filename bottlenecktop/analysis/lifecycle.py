"""The target's life during a run: when it exited, stopped, resumed or was restarted (a new process on its port),
and the time those changes spoil for judging.

While the target is stopped or gone, what the node and the driver see is caused by that, not by the load: a
stopped server's full accept queue is not an accept-queue bottleneck, a dead server's refused connections are not
a collapse. That time (and the drain after a resume or a restart) is left out of every rule, the knee and the
overload behaviour; a ramp it touched is inconclusive, and its magic number a lower bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from bottlenecktop.probes.samples import StepResult
from bottlenecktop.session import Frame, Header
from bottlenecktop.verdict_types import Inconclusive, TargetChange, TargetChangeKind

# Seconds after a resume or a restart still left out: the backlog queued while the target was away drains, and a
# new process warms up; neither is the target's behaviour under the offered load.
DRAIN_S = 5.0

_KINDS: dict[str, TargetChangeKind] = {"target-exit": "exited", "target-stopped": "stopped",
                                       "target-resumed": "resumed", "target-restarted": "restarted"}
_AWAY: dict[TargetChangeKind, Inconclusive] = {"exited": "target-exited", "stopped": "target-stopped"}


@dataclass(frozen=True, slots=True)
class Away:
    """A time the target was stopped or gone, with the drain after it: (t_start, t_end] in session seconds."""

    kind: TargetChangeKind  # what began it: "exited" or "stopped"
    t_start: float
    t_end: float  # math.inf: until the end of the run
    seen: float  # session seconds of the tick that showed it
    restarted: bool = False  # it ended with a new process on the port


def target_changes(header: Header, frames: Sequence[Frame]) -> list[TargetChange]:
    """Every change of the target in time order, from the tick loop's events (a recording written before those
    events existed still shows an exit in its samples: alive False)."""
    out: list[TargetChange] = []
    gone = False
    for i, frame in enumerate(frames):
        for event in frame.events:
            kind = _KINDS.get(event.kind)
            if kind is None or (kind == "exited" and gone):
                continue
            if kind == "restarted":  # the tick loop follows the new process from the next tick on
                pid = next((f.target.pid for f in frames[i:] if f.target is not None and f.target.alive), None)
            else:
                pid = frame.target.pid if frame.target is not None else header.target.pid
            gone = kind == "exited" or (gone and kind != "restarted")
            out.append(TargetChange(kind=kind, t=frame.t, pid=pid, evidence=event.text))
        if gone or frame.target is None or frame.target.alive:
            continue
        if not any(e.kind in ("target-exit", "target-restarted") for e in frame.events):
            gone = True
            out.append(TargetChange(kind="exited", t=frame.t, pid=frame.target.pid,
                                    evidence=f"target pid {frame.target.pid} exited"))
    return out


def away_spans(changes: Sequence[TargetChange], interval: float) -> list[Away]:
    """The times the target was stopped or gone. A change is seen at the end of a tick, so it happened within
    that tick: a span starts one ``interval`` (seconds) before; it ends DRAIN_S after the resume or restart."""
    spans: list[Away] = []
    start: TargetChange | None = None
    for c in changes:
        if c.kind in ("stopped", "exited"):
            if start is None:
                start = c
            elif c.kind == "exited":  # killed while stopped: from then on it is gone
                start = msgspec.structs.replace(start, kind="exited")
        elif start is not None:
            spans.append(Away(start.kind, start.t - interval, c.t + DRAIN_S, start.t, c.kind == "restarted"))
            start = None
    if start is not None:
        spans.append(Away(start.kind, start.t - interval, math.inf, start.t))
    return spans


def spans_of(header: Header, frames: Sequence[Frame]) -> list[Away]:
    """away_spans over a timeline."""
    return away_spans(target_changes(header, frames), header.interval if header.interval > 0 else 1.0)


def frame_away(t: float, interval: float, spans: Sequence[Away]) -> bool:
    """Whether the tick that ended at ``t`` (seconds) overlaps a span the target was away."""
    return any(t > s.t_start and t - interval < s.t_end for s in spans)


def step_clean(step: StepResult, spans: Sequence[Away]) -> bool:
    """A step that ran entirely while the target was there (and not draining)."""
    return all(step.t_end <= s.t_start or step.t_start >= s.t_end for s in spans)


def without_away_steps(frames: Sequence[Frame], spans: Sequence[Away]) -> list[Frame]:
    """The frames with the steps the target's absence spoilt taken out (their seconds stay): for the knee, the
    cost per request and everything else that compares steps."""
    if not spans:
        return list(frames)
    return [msgspec.structs.replace(f, step=None) if f.step is not None and not step_clean(f.step, spans) else f
            for f in frames]


def inconclusive(frames: Sequence[Frame], spans: Sequence[Away]) -> Away | None:
    """The first time the target was away while the ramp ran (before its outcome), or None: a run without load
    (observe, attach) has no magic number to spoil."""
    if not spans or not any(f.load is not None or f.step is not None for f in frames):
        return None
    end = next((f.outcome.t for f in reversed(frames) if f.outcome is not None), math.inf)
    return next((s for s in spans if s.t_start < end), None)


def inconclusive_kind(away: Away) -> Inconclusive:
    return "target-restarted" if away.restarted else _AWAY[away.kind]
