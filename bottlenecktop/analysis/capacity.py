"""What one request costs at the knee, and how many such machines a goal rate needs."""

from __future__ import annotations

import math
from collections.abc import Sequence

from msgspec import UnsetType

from bottlenecktop.analysis.context import observer_cores
from bottlenecktop.analysis.knee import find_knee, magic_number, steps_of, within_slo
from bottlenecktop.probes.samples import StepResult
from bottlenecktop.session import Frame, Header
from bottlenecktop.verdict_types import BottleneckResource, Cost, Plan

HEADROOM = 0.3  # each machine planned to run at no more than 70 % of its magic number


def _during(frames: Sequence[Frame], step: StepResult) -> list[Frame]:
    return [f for f in frames if step.t_start < f.t <= step.t_end + 1e-6]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def cost_per_request(header: Header, frames: Sequence[Frame], step: StepResult,
                     first: StepResult | None = None) -> Cost:
    """CPU ms, response bytes and memory per request in flight, measured over ``step`` (the knee).

    ``first``: the lowest step, the baseline for memory per request in flight. When the driver shares the box
    its CPU (and bottlenecktop's) is taken out of the node's.
    """
    during = _during(frames, step)
    rps = step.achieved_rps
    out = Cost(at_rps=round(rps, 1), step=step.step)
    if rps <= 0 or not during:
        return out
    target = [f.target.cpu_pct for f in during if f.target is not None and f.target.alive]
    if target:
        out.cpu_ms = round(sum(target) / len(target) * 10 / rps, 3)  # % of a core -> ms per second
        out.cpu_source = f"pid {next(f.target.pid for f in during if f.target is not None)}"
    node = [(f.node.cpu.busy_pct / 100 * f.node.cpu.ncpu, observer_cores(header, f)) for f in during
            if f.node is not None]
    if node and header.target.local:
        busy = sum(b for b, _ in node) / len(node)
        obs = sum(o for _, o in node) / len(node)
        out.node_cpu_ms = round(max(0.0, busy - obs) * 1000 / rps, 3)
        if obs >= 0.05:
            out.correction = (f"the load driver and bottlenecktop used {obs * 1000 / rps:.2f} ms of CPU per "
                              "request on this box; taken out of the node's CPU")
        if isinstance(out.cpu_ms, UnsetType):
            out.cpu_ms, out.cpu_source = out.node_cpu_ms, "node"
    completed = sum(f.load.completed for f in during if f.load is not None)
    if completed > 0:
        out.bytes = round(sum(f.load.bytes_in for f in during if f.load is not None) / completed, 1)
    if first is not None and first is not step:
        rss = [(_mean([f.target.rss for f in _during(frames, s) if f.target is not None and f.target.alive]),
                _mean([float(f.load.in_flight) for f in _during(frames, s) if f.load is not None]))
               for s in (first, step)]
        (rss0, fly0), (rss1, fly1) = rss
        if None not in (rss0, fly0, rss1, fly1) and fly1 - fly0 >= 1 and rss1 > rss0:  # type: ignore[operator]
            out.memory_per_in_flight = round((rss1 - rss0) / (fly1 - fly0))  # type: ignore[operator]
    return out


def ceilings(header: Header, frames: Sequence[Frame], cost: Cost | None) -> dict[str, float]:
    """req/s one machine would reach if each resource alone were the limit (where a cost makes it known)."""
    out: dict[str, float] = {}
    last = next((f.node for f in reversed(frames) if f.node is not None), None)
    cores = float(last.cpu.quota_cores or last.cpu.ncpu) if last is not None else float(header.cpu_count)
    cpu_ms = cost.cpu_ms if cost is not None and not isinstance(cost.cpu_ms, UnsetType) else 0.0
    size = cost.bytes if cost is not None and not isinstance(cost.bytes, UnsetType) else 0.0
    if cpu_ms:
        out["cpu"] = round(cores * 1000 / cpu_ms, 1)
    speeds = [n.speed_mbps for n in last.nets.values() if n.speed_mbps] if last is not None else []
    if size and speeds:
        out["network"] = round(max(speeds) * 1e6 / 8 / size, 1)
    return out


def plan(goal_rps: float, magic_rps: float | None, dominant: BottleneckResource, ceiling: dict[str, float],
         lower_bound: bool) -> Plan:
    """Machines needed for ``goal_rps`` req/s with HEADROOM, each serving at most (1 - HEADROOM) x its magic
    number; ``dominant``: the resource that limits one machine."""
    out = Plan(goal_rps=goal_rps, headroom=HEADROOM, goal_met=bool(magic_rps and magic_rps >= goal_rps))
    if not magic_rps:
        out.note = "no sustained rate was measured, so no plan"
        return out
    per_machine = magic_rps * (1 - HEADROOM)
    out.per_machine_rps, out.machines = round(per_machine, 1), max(1, math.ceil(goal_rps / per_machine))
    # With no bottleneck named, the resource whose ceiling is lowest limits one machine.
    out.dominant_resource = min(ceiling, key=lambda k: ceiling[k]) if dominant == "none" and ceiling else dominant
    if ceiling:
        out.ceilings_rps = ceiling
    if lower_bound:
        out.note = "the magic number is a lower bound, so this is an upper bound on machines"
    return out


def request_cost(header: Header, frames: Sequence[Frame]) -> Cost | None:
    """What one request costs at the knee (else at the magic number's step, else at the fastest step within the
    SLO); None without such a step. The one definition of CPU per request: the verdict and compare both ask it."""
    steps = steps_of(frames)
    step = find_knee(steps) or magic_number(frames, header.slo).step or max(
        (s for s in steps if within_slo(s, header.slo)), key=lambda s: s.achieved_rps, default=None)
    return cost_per_request(header, frames, step, steps[0] if steps else None) if step else None
