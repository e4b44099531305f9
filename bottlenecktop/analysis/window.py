"""Sustained windows: a resource counts only when it stays hot for a few seconds, never for one spike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# A span may skip one cold frame if at least this share of its frames are hot (probes miss a tick now and then).
MIN_HOT_SHARE = 0.8


@dataclass(frozen=True, slots=True)
class Hit:
    """One frame's judgement by one rule."""

    level: int  # 1: warning (utilization high), 2: saturated (a saturation signal)
    strength: float  # 0..1: how far past the threshold
    scope: str = "node"
    values: dict[str, float] = field(default_factory=dict)  # numbers the evidence quotes
    names: dict[str, str] = field(default_factory=dict)  # names the evidence quotes (thread, device, function)


@dataclass(frozen=True, slots=True)
class Span:
    """A run of hot frames that lasted at least the window."""

    start: int  # index of the first frame
    end: int  # index of the last frame, inclusive
    t_start: float  # session seconds: the start of the first frame's tick
    t_end: float  # the end of the last frame's tick
    hits: list[Hit]  # the hot frames' hits, in order

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.t_end - self.t_start

    def mean(self, key: str) -> float:
        vals = [h.values[key] for h in self.hits if key in h.values]
        return sum(vals) / len(vals) if vals else 0.0

    def peak(self, key: str) -> float:
        return max((h.values[key] for h in self.hits if key in h.values), default=0.0)

    def strength(self) -> float:
        return sum(h.strength for h in self.hits) / len(self.hits) if self.hits else 0.0

    def common(self, key: str) -> str:
        """The name seen most often under ``key`` in the span ("" when none)."""
        counts: dict[str, int] = {}
        for h in self.hits:
            name = h.names.get(key)
            if name:
                counts[name] = counts.get(name, 0) + 1
        return max(counts, key=lambda k: counts[k]) if counts else ""

    def scope(self) -> str:
        counts: dict[str, int] = {}
        for h in self.hits:
            counts[h.scope] = counts.get(h.scope, 0) + 1
        return max(counts, key=lambda k: counts[k]) if counts else "node"


def sustained_spans(times: Sequence[float], hits: Sequence[Hit | None], min_level: int, window_s: float,
                    interval: float) -> list[Span]:
    """Runs of frames whose hit is at ``min_level`` or above lasting at least ``window_s`` seconds.

    ``times`` are the frames' end-of-tick session seconds, ``interval`` the tick length in seconds. One cold
    frame inside a run is skipped when the run stays at least MIN_HOT_SHARE hot.
    """

    def hot(k: int) -> bool:
        h = hits[k]
        return h is not None and h.level >= min_level

    spans: list[Span] = []
    n = len(hits)
    i = 0
    while i < n:
        if not hot(i):
            i += 1
            continue
        start = end = i
        count = 1
        j = i + 1
        while j < n:
            if hot(j):
                end, count = j, count + 1
            elif not (j + 1 < n and hot(j + 1) and (count + 1) / (j + 2 - start) >= MIN_HOT_SHARE):
                break
            j += 1
        t_start = times[start] - interval
        if times[end] - t_start >= window_s - 1e-6:
            run = [h for h in hits[start:end + 1] if h is not None and h.level >= min_level]
            spans.append(Span(start, end, t_start, times[end], run))
        i = end + 1
    return spans


def best_span(spans: Sequence[Span]) -> Span | None:
    """The longest span, the stronger one on a tie."""
    return max(spans, key=lambda s: (round(s.duration, 6), s.strength()), default=None)
