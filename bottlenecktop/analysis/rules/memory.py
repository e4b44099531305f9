"""memory: pressure stalls, swapping, major faults, or an RSS growing towards the end of available memory."""

from __future__ import annotations

from bottlenecktop.analysis.context import Context
from bottlenecktop.analysis.kernel import cgroup_of
from bottlenecktop.analysis.rules.base import Rule, clamp, during
from bottlenecktop.analysis.window import Hit, Span
from bottlenecktop.session import Frame

PSI_SAT = 10.0  # % of the tick some task stalled on memory
PSI_FULL_SAT = 5.0
SWAP_PAGES = 100.0  # pages per second in + out
MAJOR_FAULTS = 500.0  # per second
LOW_AVAILABLE = 10.0  # % of memory
EXHAUST_SAT_S = 60.0  # seconds until available memory is gone at the current RSS growth
EXHAUST_WARN_S = 600.0


def memory_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    if not ctx.on_target_host or frame.node is None:
        return None
    mem = frame.node.memory
    low = mem.available_pct < LOW_AVAILABLE
    swap = mem.swap_in + mem.swap_out
    values = {"avail": mem.available_pct, "swap": swap, "faults": mem.major_faults}
    level = 1 if low else 0
    if (mem.psi_some or 0) >= PSI_SAT or (mem.psi_full or 0) >= PSI_FULL_SAT:
        level = 2
    if low and (swap >= SWAP_PAGES or mem.major_faults >= MAJOR_FAULTS):
        level = 2
    if mem.psi_some is not None:
        values["psi"] = mem.psi_some
    room = float(mem.available)
    cg = cgroup_of(frame)
    if cg is not None and cg.memory_limit:  # the cgroup's limit comes first when it is the nearer wall
        room = min(room, float(max(0, cg.memory_limit - cg.memory_usage)))
        values["cg_used"] = cg.memory_usage / cg.memory_limit * 100
        if cg.memory_usage >= 0.9 * cg.memory_limit:
            level = max(level, 1)
        if (cg.psi_memory_some or 0) >= PSI_SAT or cg.oom_kills > 0:
            level = 2
    target = frame.target
    if target is not None and target.alive and target.rss_growth_bps > 0 and room > 0:
        to_exhaustion = room / target.rss_growth_bps
        values["growth"] = target.rss_growth_bps
        values["exhaust"] = to_exhaustion
        if to_exhaustion < EXHAUST_SAT_S:
            level = 2
        elif to_exhaustion < EXHAUST_WARN_S:
            level = max(level, 1)
    if level == 0:
        return None
    strength = max(clamp((mem.psi_some or 0) / 40), clamp((LOW_AVAILABLE - mem.available_pct) / LOW_AVAILABLE),
                   clamp(swap / (10 * SWAP_PAGES)))
    scope = f"pid {target.pid}" if "exhaust" in values and target is not None else "node"
    return Hit(level, strength, scope, values)


def memory_describe(span: Span, ctx: Context) -> list[str]:
    out = [f"available memory {span.mean('avail'):.0f} % {during(span)}"]
    if any("cg_used" in h.values for h in span.hits):
        out.append(f"the target's cgroup used {span.mean('cg_used'):.0f} % of its memory limit")
    detail = []
    if any("psi" in h.values for h in span.hits):
        detail.append(f"PSI memory some {span.mean('psi'):.0f} %")
    if span.mean("swap") > 0:
        detail.append(f"swapping {span.mean('swap'):.0f} pages/s")
    if span.mean("faults") > 0:
        detail.append(f"{span.mean('faults'):.0f} major faults/s")
    if detail:
        out.append(", ".join(detail))
    if any("exhaust" in h.values for h in span.hits):
        last = next(h for h in reversed(span.hits) if "exhaust" in h.values)
        out.append(f"{span.scope()} grows its RSS by {last.values['growth'] / 2**20:.1f} MiB/s: available memory "
                   f"(or its cgroup's limit) runs out in about {last.values['exhaust']:.0f} s at that rate")
    return out


MEMORY = Rule("memory", memory_hit, memory_describe)
