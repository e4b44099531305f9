"""Per-agent figures of a ramp driven by several load agents, and whether one of them was the limit."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bottlenecktop.analysis.knee import Magic, steps_of
from bottlenecktop.probes.samples import LoadSecond, StepResult
from bottlenecktop.session import Frame
from bottlenecktop.verdict_types import AgentRow, LoadAgents

# The controller's test (probes/load/cluster/controller.py): an agent sending this share late is the limit.
LATE_SHARE = 0.05
# The next run should keep each agent's driver near half a core: room for bursts, and a busy node.
AGENT_CPU_GOAL_PCT = 50.0


def _figures_step(steps: Sequence[StepResult], magic: Magic) -> StepResult | None:
    """The step the magic number comes from: the sustained confirmation, else the best sustained step."""
    confirmed = [s for s in steps if s.phase == "confirming" and s.sustained]
    if confirmed:
        return confirmed[-1]
    sustained = [s for s in steps if s.sustained]
    if sustained:
        return max(sustained, key=lambda s: s.offered_rps)
    return steps[-1] if steps else None


def _in_step(load: LoadSecond, step: StepResult) -> bool:
    return load.step == step.step and step.t_start < load.t <= step.t_end + 0.01 and load.phase == step.phase


def agents_report(frames: Sequence[Frame], magic: Magic) -> LoadAgents | None:
    """None unless the ramp came from several load agents (LoadSecond.agents)."""
    loads = [f.load for f in frames if f.load is not None and f.load.agents]
    if not loads:
        return None
    steps = steps_of(frames)
    chosen = _figures_step(steps, magic)
    rows: dict[int, AgentRow] = {}
    offered: dict[int, float] = {}
    for load in loads:
        for a in load.agents:
            row = rows.setdefault(a.agent, AgentRow(agent=a.agent, host=a.host, pid=a.pid))
            row.late += a.late
            row.peak_cpu_pct = max(row.peak_cpu_pct, a.cpu_pct)
            row.lag_p99_ms = max(row.lag_p99_ms, a.lag_p99_ms)
            offered[a.agent] = offered.get(a.agent, 0.0) + a.offered_rps * load.dt
    if chosen is not None:
        in_step = [load for load in loads if _in_step(load, chosen)]
        # The warm-up second is not judged, unless it is all the step has (a step cut short by --max-time).
        judged = in_step[1:] or in_step
        for n, row in rows.items():
            seconds = [(load.dt, a) for load in judged for a in load.agents if a.agent == n]
            span = sum(dt for dt, _ in seconds)
            if span > 0:
                row.achieved_rps = round(sum(a.achieved_rps * dt for dt, a in seconds) / span, 1)
                row.offered_rps = round(sum(a.offered_rps * dt for dt, a in seconds) / span, 1)
                row.cpu_pct = round(sum(a.cpu_pct * dt for dt, a in seconds) / span, 1)
    outcome = next((f.outcome for f in reversed(frames) if f.outcome is not None), None)
    if outcome is not None:
        for a in outcome.agents:  # an agent lost before its first second is in the outcome only
            row = rows.setdefault(a.agent, AgentRow(agent=a.agent, host=a.host, pid=a.pid, late=a.late))
            row.lost = a.lost
    report = LoadAgents(count=len(rows), at_rps=None if chosen is None else round(chosen.offered_rps, 1),
                        agents=[rows[n] for n in sorted(rows)])
    limited = magic.driver_limited or any(s.reason == "driver" for s in steps)
    if limited and rows:
        def share(row: AgentRow) -> float:
            total = offered.get(row.agent, 0.0)
            return row.late / total if total else 0.0

        worst = max(rows.values(), key=lambda r: (share(r), r.peak_cpu_pct))
        report.limiting_agent = worst.agent
        report.suggested_agents = suggested_agents(len(rows), worst.peak_cpu_pct, share(worst))
        starved = worst.peak_cpu_pct < AGENT_CPU_GOAL_PCT and share(worst) > LATE_SHARE
        why = (": it was late while using little CPU, so its host gave it too little (a quota, a busy host)"
               if starved else "")
        report.limit = (f"load agent {worst.agent} on {worst.host} was the limit: {worst.late} requests sent late "
                        f"({share(worst) * 100:.1f} % of its share), its driver at up to {worst.peak_cpu_pct:.0f} % "
                        f"of one core{why}; run with --agents {report.suggested_agents} (or as many --cluster "
                        "hosts)")
    return report


def suggested_agents(n: int, peak_cpu_pct: float, late_share: float) -> int:
    """Agents like the worst one that the next run needs: enough that each keeps its driver near
    AGENT_CPU_GOAL_PCT, and enough that each is asked no more than the worst one sent on time (1 - late share
    of its stripe); always at least one more than this run had."""
    by_cpu = math.ceil(n * max(peak_cpu_pct, 1.0) / AGENT_CPU_GOAL_PCT)
    on_time = max(1.0 - late_share, 0.05)  # an agent that sent almost nothing on time: at most 20x as many
    by_lateness = math.ceil(n / on_time) if late_share > LATE_SHARE else 0
    return max(n + 1, by_cpu, by_lateness)
