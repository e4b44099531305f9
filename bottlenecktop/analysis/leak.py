"""Leaks are unsustainable: the bytes the target keeps per completed request, and how long its memory (or its
cgroup's limit) lasts at the magic number. A rate that exhausts memory within the horizon is not sustainable,
however well it held during the ramp."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bottlenecktop.analysis.findings import SATURATED, Finding
from bottlenecktop.analysis.kernel import cgroup_of
from bottlenecktop.session import Frame

MIN_POINTS = 8  # frames with load and a live target
MIN_GROWTH = 32 * 2**20  # bytes: RSS growth over the run below this is allocator noise, not a leak
MIN_FIT = 0.8  # R² of RSS against completed requests: the growth follows the requests
KEEPS_GROWING = 0.5  # the second half's slope at least this share of the whole run's: not a warm-up


@dataclass(frozen=True)
class Leak:
    retained: float  # bytes kept per completed request
    room: float  # bytes left: available memory, or the cgroup limit minus its usage, whichever is less
    room_of: str  # "available memory" or "the cgroup limit of PATH"
    growth_bps: float  # RSS growth over the run, bytes per second
    t_start: float
    t_end: float
    pid: int


def _slope(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope of ys over xs, and R² (0 when xs do not vary)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    if sxx <= 0 or syy <= 0:
        return 0.0, 0.0
    return sxy / sxx, sxy * sxy / (sxx * syy)


def find_leak(frames: Sequence[Frame]) -> Leak | None:
    """The target's RSS growing with the requests it completes, all through the run; None when it does not."""
    done = 0.0
    xs: list[float] = []
    ys: list[float] = []
    ts: list[float] = []
    pid = 0
    for f in frames:
        if f.load is not None:
            done += f.load.completed
        if f.target is None or not f.target.alive or f.load is None:
            continue
        if pid and f.target.pid != pid:  # a restarted target (a new process) starts its memory afresh
            xs, ys, ts = [], [], []
        pid = f.target.pid
        xs.append(done)
        ys.append(float(f.target.rss))
        ts.append(f.t)
    if len(xs) < MIN_POINTS or ys[-1] - ys[0] < MIN_GROWTH or xs[-1] <= xs[0]:
        return None
    retained, fit = _slope(xs, ys)
    half = len(xs) // 2
    late, _ = _slope(xs[half:], ys[half:])
    if retained <= 0 or fit < MIN_FIT or late < KEEPS_GROWING * retained:
        return None
    room, room_of = _room(frames)
    if room is None:
        return None
    return Leak(retained=retained, room=room, room_of=room_of, growth_bps=(ys[-1] - ys[0]) / max(ts[-1] - ts[0], 1e-9),
                t_start=ts[0], t_end=ts[-1], pid=pid)


def _room(frames: Sequence[Frame]) -> tuple[float | None, str]:
    """Bytes left at the end of the run, and of what."""
    last = next((f for f in reversed(frames) if f.node is not None), None)
    room = float(last.node.memory.available) if last is not None and last.node is not None else None
    of = "available memory"
    cg = next((c for f in reversed(frames) if (c := cgroup_of(f)) is not None), None)
    if cg is not None and cg.memory_limit:
        left = float(max(0, cg.memory_limit - cg.memory_usage))
        if room is None or left < room:
            room, of = left, f"the memory limit of cgroup {cg.path}"
    return room, of


def sustainable_for(leak: Leak, rps: float) -> float | None:
    """Seconds until the room is gone at ``rps`` req/s."""
    if rps <= 0 or leak.retained <= 0:
        return None
    return leak.room / (leak.retained * rps)


def leak_finding(leak: Leak, rps: float, horizon_s: float) -> Finding | None:
    """A saturated memory finding when memory runs out within ``horizon_s`` at ``rps`` req/s."""
    lasts = sustainable_for(leak, rps)
    if lasts is None or lasts >= horizon_s:
        return None
    kib = leak.retained / 1024
    evidence = [
        f"pid {leak.pid} keeps {kib:.0f} KiB per completed request (RSS against requests completed, "
        f"t={leak.t_start:.0f}-{leak.t_end:.0f} s; it grew {leak.growth_bps / 2**20:.1f} MiB/s)",
        f"at {rps:.0f} req/s that is {leak.retained * rps / 2**20:.1f} MiB/s: {leak.room_of} "
        f"({leak.room / 2**30:.1f} GiB left) is gone in about {lasts:.0f} s, under the horizon of {horizon_s:.0f} s",
        f"the magic number is sustainable for {lasts:.0f} s only",
    ]
    return Finding(resource="memory", severity=SATURATED, score=0.97, scope=f"pid {leak.pid}", evidence=evidence,
                   t_start=leak.t_start, t_end=leak.t_end)
