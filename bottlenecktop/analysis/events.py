"""Findings that one moment is enough for: the target exiting, the kernel killing for memory, the driver
reporting itself as the limit. None of them is a spike: each is a fact that happened."""

from __future__ import annotations

from collections.abc import Sequence

from bottlenecktop.analysis.findings import SATURATED, TARGET_EXIT, WARNING, Finding
from bottlenecktop.analysis.knee import steps_of
from bottlenecktop.analysis.lifecycle import DRAIN_S, Away, step_clean, target_changes
from bottlenecktop.session import Frame, Header


def target_exit(header: Header, frames: Sequence[Frame]) -> Finding | None:
    """The first sign that the target is gone: its sample says not alive, or the tick loop said it exited."""
    for frame in frames:
        said = next((e.text for e in frame.events if e.kind == "target-exit"), "")
        dead = frame.target is not None and not frame.target.alive
        if said or dead:
            pid = frame.target.pid if frame.target is not None else header.target.pid
            what = said or f"target pid {pid} exited"
            load = next((f.load for f in reversed(frames) if f.load is not None and f.t <= frame.t), None)
            at = f" while the driver offered {load.offered_rps:.0f} req/s" if load is not None else ""
            back = next((c for c in target_changes(header, frames) if c.kind == "restarted" and c.t >= frame.t),
                        None)
            covers = ("the analysis covers the time before" if back is None else
                      f"pid {back.pid} took its port over at t={back.t:.0f} s and the run followed it; the analysis "
                      f"leaves out the time between and {DRAIN_S:.0f} s after")
            return Finding(resource=TARGET_EXIT, severity=WARNING, score=0.99, scope=f"pid {pid}",
                           evidence=[f"{what} at t={frame.t:.0f} s{at}; {covers}"],
                           t_start=frame.t, t_end=frame.t)
    return None


def oom_kills(frames: Sequence[Frame]) -> Finding | None:
    hits = [f for f in frames if f.node is not None and f.node.memory.oom_kills > 0]
    if not hits:
        return None
    total = sum(f.node.memory.oom_kills for f in hits if f.node is not None)
    return Finding(resource="memory", severity=SATURATED, score=0.9, scope="node",
                   evidence=[f"the kernel killed {total} process(es) for lack of memory, first at "
                             f"t={hits[0].t:.0f} s"],
                   t_start=hits[0].t, t_end=hits[-1].t)


def driver_limited(header: Header, frames: Sequence[Frame], away: Sequence[Away] = ()) -> Finding | None:
    """The driver's own judgement at the end of the ramp (or on steps) that it was the limit. Steps run while
    the target was ``away`` do not count: a stopped target holds every connection, and the driver runs late."""
    outcome = next((f.outcome for f in reversed(frames) if f.outcome is not None), None)
    steps = [s for s in steps_of(frames) if s.reason == "driver" and step_clean(s, away)]
    if not steps and (outcome is None or not outcome.driver_limited):
        return None
    evidence = []
    if outcome is not None and outcome.driver_limited:
        rate = f" at {outcome.max_sustainable_rps:.0f} req/s" if outcome.max_sustainable_rps else ""
        evidence.append(f"the driver reported itself as the limit{rate} when the ramp ended at t={outcome.t:.0f} s")
    for step in steps[:2]:
        evidence.append(f"step {step.step} ({step.offered_rps:.0f} req/s offered) failed on the driver: "
                        f"{step.driver_cpu_pct:.0f} % of one core, {step.late} requests late")
    evidence.append("the magic number is a lower bound: the target may sustain more")
    t0 = steps[0].t_start if steps else outcome.t if outcome is not None else 0.0
    t1 = outcome.t if outcome is not None else steps[-1].t_end
    return Finding(resource="load-driver", severity=SATURATED, score=0.95,
                   scope=f"driver pid {header.driver_pid}" if header.driver_pid else "driver",
                   evidence=evidence, t_start=t0, t_end=t1)
