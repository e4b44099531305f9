"""The shape of a rule (one per resource) and the phrases its evidence shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bottlenecktop.analysis.context import Context
from bottlenecktop.analysis.window import Hit, Span
from bottlenecktop.session import Frame
from bottlenecktop.verdict_types import Resource


@dataclass(frozen=True)
class Rule:
    resource: Resource
    hit: Callable[[int, Frame, Context], Hit | None]  # judge one frame (index, frame, context)
    describe: Callable[[Span, Context], list[str]]  # evidence sentences for a sustained span
    specific: bool = False  # names a cause inside the target, so it outranks the node-wide view of it
    # Seconds the signal must hold, when shorter than the analysis window: for signals that are unambiguous as
    # soon as they last a tick or two (a process at its fd limit does not come back down on its own).
    window_s: float | None = None
    # The finding's scope from its span, when more than the most common hit scope is to be said (what limits a
    # downstream process); None: the span's scope.
    scope_of: Callable[[Span, Context], str] | None = None


def during(span: Span) -> str:
    """'for 25 s (t=12-37 s)'."""
    return f"for {span.duration:.0f} s (t={span.t_start:.0f}-{span.t_end:.0f} s)"


def clamp(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo if x < lo else hi if x > hi else x


def observer_note(span: Span, ctx: Context) -> str:
    """The correction said when the driver shares the box, or ''."""
    cores = [ctx.observer_cores[i] for i in range(span.start, span.end + 1)]
    mean = sum(cores) / len(cores) if cores else 0.0
    if mean < 0.05:
        return ""
    return (f"the load driver and bottlenecktop on this box used {mean * 100:.0f} % of one core, "
            "taken out of the node's CPU before judging")
