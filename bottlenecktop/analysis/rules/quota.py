"""cpu, judged against the target's cgroup: a target throttled by its CPU quota is short of CPU even while the
node sits idle. The scope names the cgroup and its quota."""

from __future__ import annotations

from bottlenecktop.analysis.context import Context
from bottlenecktop.analysis.kernel import cgroup_of
from bottlenecktop.analysis.rules.base import Rule, clamp, during
from bottlenecktop.analysis.window import Hit, Span
from bottlenecktop.session import Frame

USE_WARN = 0.75  # of the quota
USE_SAT = 0.85
THROTTLED_WARN = 10.0  # % of enforcement periods throttled
THROTTLED_SAT = 20.0
THROTTLED_HIGH = 50.0  # throttled this often, the quota is the limit whatever the usage reads


def quota_cores_said(q: float) -> str:
    """'0.5', '2', '0.33': the quota as a person writes it."""
    return f"{round(q, 2):g}"


def quota_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    c = cgroup_of(frame)
    if c is None or not c.quota_cores or c.quota_cores <= 0:
        return None
    usage = c.usage_cores
    target = frame.target
    if usage <= 0 and target is not None and target.alive:
        usage = target.cpu_pct / 100  # no CPU accounting in that hierarchy (v1 cpu without cpuacct): the target's own
    used = usage / c.quota_cores
    if used < USE_WARN and c.throttled_pct < THROTTLED_WARN:
        return None
    level = 1
    if (used >= USE_SAT and c.throttled_pct >= THROTTLED_SAT) or c.throttled_pct >= THROTTLED_HIGH:
        level = 2
    strength = 0.6 * clamp(used) + 0.4 * clamp(c.throttled_pct / 100)
    values = {"used": used * 100, "usage": usage, "quota": c.quota_cores, "throttled": c.throttled_pct,
              "throttled_ms": c.throttled_ms}
    if c.psi_cpu_some is not None:
        values["psi"] = c.psi_cpu_some
    util = ctx.node_util(i)
    if util is not None:
        values["util"] = util
    names = {"quota_path": c.quota_path} if c.quota_path and c.quota_path != c.path else {}
    return Hit(level, strength, f"cgroup {c.path} (quota {quota_cores_said(c.quota_cores)} CPU)", values, names)


def quota_describe(span: Span, ctx: Context) -> list[str]:
    out = [f"the target's cgroup used {span.mean('usage'):.2f} of its {span.mean('quota'):g} CPU quota "
           f"({span.mean('used'):.0f} %) {during(span)}, throttled in {span.mean('throttled'):.0f} % of its "
           f"periods ({span.mean('throttled_ms'):.0f} ms per second held back)"]
    if any("util" in h.values for h in span.hits):
        out.append(f"meanwhile the CPU left to the target on the node was {span.mean('util'):.0f} % busy: the "
                   "quota, not the cores, is the limit")
    if any("psi" in h.values for h in span.hits):
        out.append(f"PSI cpu some {span.mean('psi'):.0f} % inside the cgroup")
    where = span.common("quota_path")
    if where:
        out.append(f"the quota is set by the ancestor cgroup {where}")
    return out


CPU_QUOTA = Rule("cpu", quota_hit, quota_describe, specific=True)
