"""Plot series from frames: a bounded time window, downsampled to about twice the plot's width.

Pure functions, cheap enough to run once a tick: the cost of drawing a plot grows with the points it draws.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bottlenecktop.session import Frame

Getter = Callable[[Frame], float | None]


@dataclass
class Series:
    """One named line: x in session seconds, y in the line's unit."""

    label: str
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)


def window(frames: Sequence[Frame], end_t: float | None = None, span_s: float = 300.0) -> Sequence[Frame]:
    """The frames with ``end_t - span_s < t <= end_t`` (seconds); frames must be in time order."""
    if not frames:
        return frames
    end = frames[-1].t if end_t is None else end_t
    times = [f.t for f in frames]
    lo = bisect.bisect_right(times, end - span_s)
    hi = bisect.bisect_right(times, end)
    return frames[lo:hi]


def extract(frames: Sequence[Frame], label: str, get: Getter) -> Series:
    """The (t, value) points where ``get`` has a value."""
    out = Series(label)
    for frame in frames:
        value = get(frame)
        if value is not None:
            out.xs.append(frame.t)
            out.ys.append(value)
    return out


def downsample(series: Series, max_points: int, *, peak: bool = False) -> Series:
    """At most ``max_points`` points, by bucket: the mean, or the max when ``peak`` (latency tails, errors).

    Keeping the max keeps a spike visible; a mean would hide the very thing a person looks for.
    """
    n = len(series.xs)
    if max_points <= 0 or n <= max_points:
        return series
    out = Series(series.label)
    per = n / max_points
    for i in range(max_points):
        lo, hi = int(i * per), max(int((i + 1) * per), int(i * per) + 1)
        ys = series.ys[lo:hi]
        out.xs.append(series.xs[hi - 1])
        out.ys.append(max(ys) if peak else sum(ys) / len(ys))
    return out


def busiest_thread_pct(frame: Frame) -> float | None:
    """CPU of the target's busiest thread, % of one core."""
    if frame.target is None or not frame.target.threads:
        return None
    return max(th.cpu_pct for th in frame.target.threads)


def memory_used_pct(frame: Frame) -> float | None:
    return None if frame.node is None else 100.0 - frame.node.memory.available_pct


def disk_busy_pct(frame: Frame) -> float | None:
    """The busiest disk's busy %."""
    if frame.node is None or not frame.node.disks:
        return None
    return max(d.busy_pct for d in frame.node.disks.values())


def net_link_pct(frame: Frame) -> float | None:
    """The busiest interface with a known link speed: max(rx, tx) as % of the link; None when none is known."""
    if frame.node is None:
        return None
    best: float | None = None
    for nic in frame.node.nets.values():
        if nic.speed_mbps:
            pct = max(nic.rx_bps, nic.tx_bps) * 8 / (nic.speed_mbps * 1e6) * 100
            best = pct if best is None else max(best, pct)
    return best


def errors_per_s(frame: Frame) -> float | None:
    if frame.load is None:
        return None
    return sum(frame.load.errors.values()) / (frame.load.dt or 1.0)


# Resource lines share one 0..100 % axis, so they can be compared at a glance.
RESOURCE_LINES: dict[str, tuple[str, Getter]] = {
    "cpu": ("node cpu", lambda f: None if f.node is None else f.node.cpu.busy_pct),
    "cpu-thread": ("busiest thread", busiest_thread_pct),
    "memory": ("memory", memory_used_pct),
    "disk": ("disk", disk_busy_pct),
    "network": ("net", net_link_pct),
}


def step_starts(frames: Sequence[Frame]) -> list[float]:
    """Session seconds where the driver moved to a new ramp step."""
    out: list[float] = []
    prev: int | None = None
    for frame in frames:
        if frame.load is None:
            continue
        if prev is not None and frame.load.step != prev:
            out.append(frame.t)
        prev = frame.load.step
    return out


def mark_times(frames: Sequence[Frame]) -> list[tuple[float, str]]:
    return [(f.t, label) for f in frames for label in f.marks]
