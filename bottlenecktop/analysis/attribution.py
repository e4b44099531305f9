"""Attribution at the knee: when the ramp found a limit and no resource stayed past its threshold, the resources
are ranked by how their utilization and saturation changed across the knee, and by whether the target's own
throughput (and CPU) plateaued with them. The leading candidate is named with less confidence, and with what
evidence is missing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bottlenecktop.analysis.context import Context, build_context
from bottlenecktop.analysis.findings import WARNING, Finding
from bottlenecktop.probes.samples import StepResult, WaitSample
from bottlenecktop.session import Frame, Header
from bottlenecktop.verdict_types import Resource

PSI_RISE = 10.0  # points of PSI some between below and past the knee
UTIL_RISE = 10.0  # points of the CPU left to the target
UTIL_PAST = 60.0  # % of the CPU left to the target past the knee, at least
OFFER_RISE = 1.15  # offered load past the knee at least this multiple of the knee's
FLAT = 1.15  # the target's CPU past the knee at most this multiple of the knee's: it plateaued
BUSY_TARGET = 0.5  # cores: a target using less than this did not plateau on CPU
DISK_RISE = 20.0  # points of a disk's busy %
FUTEX_RISE = 30.0  # points of the working thread-time blocked on a futex
FUTEX_PAST = 50.0  # ... past the knee, at least
GIL_HELD = 50.0  # % of samples: past this the futex waits are the GIL's, which cpu-thread tells


@dataclass(frozen=True)
class _Side:
    """Means over the frames of some steps (below or past the knee)."""

    offered: float
    achieved: float
    util: float | None  # % of the CPU left to the target (observer taken out)
    psi: float | None
    target_cores: float | None
    disk: float | None
    mem_psi: float | None
    futex: float | None  # % of the target's working thread-time blocked on a futex (kernel waits)
    pid: int | None
    gil: float | None  # % of py-spy samples with the GIL held, where the target is Python


def working_futex(w: WaitSample) -> float | None:
    """% of the working thread-time (not asleep, not idle, not waiting on a client's next request) that the
    kernel saw blocked on a futex."""
    client = sum(p.pct for p in w.peers if p.role == "client")
    idle = w.waits.get("sleep", 0.0) + w.waits.get("idle", 0.0) + min(client, w.waits.get("socket", 0.0))
    working = sum(w.waits.values()) - idle
    return 100.0 * w.waits.get("futex", 0.0) / working if working >= 1.0 else None


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _side(ctx: Context, steps: Sequence[StepResult]) -> _Side | None:
    idx = [i for i, f in enumerate(ctx.frames) if any(s.t_start < f.t <= s.t_end + 1e-6 for s in steps)]
    if not idx:
        return None
    frames = [ctx.frames[i] for i in idx]
    utils = [u for i in idx if (u := ctx.node_util(i)) is not None]
    return _Side(
        offered=_mean([s.offered_rps for s in steps]) or 0.0,
        achieved=_mean([s.achieved_rps for s in steps]) or 0.0,
        util=_mean(utils),
        psi=_mean([f.node.cpu.psi_some for f in frames if f.node is not None and f.node.cpu.psi_some is not None]),
        target_cores=_mean([f.target.cpu_pct / 100 for f in frames if f.target is not None and f.target.alive]),
        disk=_mean([max((d.busy_pct for d in f.node.disks.values()), default=0.0) for f in frames
                    if f.node is not None]),
        mem_psi=_mean([f.node.memory.psi_some for f in frames
                       if f.node is not None and f.node.memory.psi_some is not None]),
        futex=_mean([x for f in frames if f.waits is not None and not f.waits.error
                     and (x := working_futex(f.waits)) is not None]),
        pid=next((f.waits.pid for f in frames if f.waits is not None and f.waits.pid), None),
        gil=_mean([f.stacks.gil_pct for f in frames if f.stacks is not None and f.stacks.gil_pct is not None]),
    )


def _rise(after: float | None, before: float | None) -> float:
    return (after or 0.0) - (before or 0.0) if after is not None else 0.0


def at_knee(header: Header, frames: Sequence[Frame], steps: Sequence[StepResult]) -> Finding | None:
    """The leading candidate across the knee (the last sustained step and the failed steps past it), or None
    when nothing changed with the load: a target whose latency is its own."""
    good = [s for s in steps if s.sustained]
    bad = [s for s in steps if not s.sustained]
    if not good or not bad:
        return None
    knee = max(good, key=lambda s: s.achieved_rps)
    past = [s for s in bad if s.offered_rps >= OFFER_RISE * knee.offered_rps] or bad
    ctx = build_context(header, frames)
    if not ctx.on_target_host:
        return None  # the target is on other nodes (exporters): this box's CPU, disks, memory are the load box's
    before, after = _side(ctx, [knee]), _side(ctx, past)
    if before is None or after is None:
        return None
    ncpu = max(header.cpu_count, 1)
    offered_rise = after.offered / before.offered if before.offered > 0 else 0.0
    candidates: list[tuple[float, Resource, list[str], list[str]]] = []
    # CPU: pressure rising, the CPU left to the target filling, the target's CPU flat while the offer rose.
    psi_rise, util_rise = _rise(after.psi, before.psi), _rise(after.util, before.util)
    plateau = (before.target_cores is not None and after.target_cores is not None
               and after.target_cores >= BUSY_TARGET and after.target_cores <= FLAT * before.target_cores
               and offered_rise >= OFFER_RISE)
    cpu_score = 0.0
    said: list[str] = []
    if psi_rise >= PSI_RISE:
        cpu_score += min(0.4, psi_rise / 100)
        said.append(f"PSI cpu some rose from {before.psi or 0:.0f} % to {after.psi or 0:.0f} %")
    if (after.util or 0) >= UTIL_PAST and util_rise >= UTIL_RISE:
        cpu_score += 0.2
        said.append(f"the CPU left to the target went from {before.util or 0:.0f} % to {after.util or 0:.0f} % busy")
    if plateau and (psi_rise >= PSI_RISE or (after.util or 0) >= UTIL_PAST):
        cpu_score += 0.3
        said.append(f"the target's CPU stayed at {after.target_cores:.2f} cores (of {ncpu}) while the offered load "
                    f"rose from {before.offered:.0f} to {after.offered:.0f} req/s and goodput held at "
                    f"{after.achieved:.0f} req/s")
    if cpu_score > 0 and said:
        missing = ["no CPU signal stayed past its threshold for a whole window (node CPU at least 90 % busy "
                   "with PSI, or a thread at a full core)"]
        candidates.append((cpu_score, "cpu", said, missing))
    disk_rise = _rise(after.disk, before.disk)
    if disk_rise >= DISK_RISE:
        candidates.append((min(0.6, disk_rise / 100), "disk",
                           [f"the busiest disk went from {before.disk or 0:.0f} % to {after.disk or 0:.0f} % busy"],
                           ["no disk queue or I/O pressure stayed high for a whole window"]))
    mem_rise = _rise(after.mem_psi, before.mem_psi)
    if mem_rise >= PSI_RISE:
        candidates.append((min(0.6, mem_rise / 100), "memory",
                           [f"PSI memory some rose from {before.mem_psi or 0:.0f} % to {after.mem_psi or 0:.0f} %"],
                           ["no memory stall stayed high for a whole window"]))
    # A lock queues well before the knee (near its capacity the working threads already wait for it), so its
    # waits are compared with the lowest step's, where the lock was free.
    low = min(good, key=lambda s: s.offered_rps)
    base = _side(ctx, [low]) if low is not knee else before
    futex_rise = _rise(after.futex, base.futex if base is not None else None)
    lock: tuple[float, str] | None = None
    gil_bound = (after.gil or 0.0) >= GIL_HELD  # Python threads queueing for the GIL wait on a futex too
    if base is not None and not gil_bound and futex_rise >= FUTEX_RISE and (after.futex or 0.0) >= FUTEX_PAST:
        lock = (min(0.6, futex_rise / 100), f"pid {after.pid}" if after.pid else "node")
        candidates.append((lock[0], "lock",
                           [f"the share of the target's working thread-time blocked on a futex (a lock or a "
                            f"condition) went from {base.futex or 0:.0f} % at {low.offered_rps:.0f} req/s to "
                            f"{after.futex or 0:.0f} % past it"],
                           ["the futex waits did not stay high for a whole window: the overloaded steps were "
                            "shorter than it"]))
    if not candidates:
        return None
    score, resource, evidence, missing = max(candidates, key=lambda c: c[0])
    head = (f"the ramp found a limit at {knee.achieved_rps:.0f} req/s (step {knee.step}); across it, " + "; ".join(
        evidence))
    t0, t1 = knee.t_start, max(s.t_end for s in past)
    scope = lock[1] if resource == "lock" and lock is not None else "node"
    return Finding(resource=resource, severity=WARNING, score=round(min(0.5, 0.2 + score / 2), 3), scope=scope,
                   evidence=[head, f"missing: {missing[0]}"], t_start=t0, t_end=t1)
