"""cpu (the node's cores) and cpu-thread (one thread, or one GIL, holding the target to a single core)."""

from __future__ import annotations

from bottlenecktop.analysis.context import OWN_SHARE, Context
from bottlenecktop.analysis.rules.base import Rule, clamp, during, observer_note
from bottlenecktop.analysis.window import Hit, Span
from bottlenecktop.session import Frame

UTIL_WARN = 75.0  # % of the CPU left to the target
UTIL_SAT = 90.0
PSI_SAT = 10.0  # % of the tick some task waited for a CPU
PSI_HIGH = 40.0
THREAD_HOT = 85.0  # % of one core
IDLE_CORES = 0.5  # cores that would be idle without the observer
GIL_SAT = 70.0  # % of samples


def cpu_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    if not ctx.on_target_host or frame.node is None:
        return None
    util = ctx.node_util(i)
    if util is None or util < UTIL_WARN:
        return None
    cpu = frame.node.cpu
    psi = cpu.psi_some
    queued = cpu.procs_running > ctx.ncpu(frame)
    level = 1
    if (util >= UTIL_SAT and (psi is None or psi >= PSI_SAT or queued)) or (psi is not None and psi >= PSI_HIGH):
        level = 2
    strength = 0.6 * clamp((util - UTIL_WARN) / (100 - UTIL_WARN)) + 0.4 * clamp((psi or 0.0) / 50)
    values = {"util": util, "busy": cpu.busy_pct, "runq": float(cpu.procs_running), "steal": cpu.steal}
    if psi is not None:
        values["psi"] = psi
    names = {}
    if frame.target is not None and frame.target.alive:
        values["target"] = frame.target.cpu_pct
        values["delay"] = frame.target.run_delay_ms
        others = [p for p in frame.node.top_procs if p.pid not in (frame.target.pid, ctx.header.driver_pid,
                                                                     ctx.header.self_pid)]
        if others:
            names["others"] = ", ".join(f"{p.name} (pid {p.pid})" for p in others[:3])
        own = ctx.own_cpu_share(i)
        if own is not None and own < OWN_SHARE and not ctx.target_starved(i):
            # Other processes keep the node busy, yet the target gets a CPU when it asks: not its limit.
            level, values["bystander"] = 1, 1.0
            strength *= 0.5
        elif ctx.target_starved(i):
            values["starved"] = 1.0
    return Hit(level, strength, "node", values, names)


def cpu_describe(span: Span, ctx: Context) -> list[str]:
    ncpu = ctx.ncpu(ctx.frames[span.end])
    out = [f"the node's {ncpu} cores were {span.mean('busy'):.0f} % busy {during(span)}; the CPU left to the "
           f"target was {span.mean('util'):.0f} % used"]
    detail = [f"run queue {span.mean('runq'):.1f} on {ncpu} cores"]
    if any("psi" in h.values for h in span.hits):
        detail.append(f"PSI cpu some {span.mean('psi'):.0f} %")
    if span.mean("steal") >= 5:
        detail.append(f"steal {span.mean('steal'):.0f} %")
    out.append("; ".join(detail))
    if any("target" in h.values for h in span.hits):
        busy_cores = span.mean("busy") / 100 * ncpu
        said = f"the target used {span.mean('target'):.0f} % of one core of that"
        if span.mean("target") / 100 < 0.5 * busy_cores:
            others = span.common("others")
            said += "; other processes took most of the rest" + (f" (busiest: {others})" if others else "")
        out.append(said)
        delay = span.mean("delay")
        if sum(1 for h in span.hits if "bystander" in h.values) * 2 > len(span.hits):
            out.append(f"the target's threads waited only {delay:.0f} ms per second for a CPU (run delay): the "
                       "busy node is not what holds the target back")
        elif any("starved" in h.values for h in span.hits):
            out.append(f"the target's threads waited {delay:.0f} ms per second for a CPU (run delay): it is "
                       "starved of CPU")
    note = observer_note(span, ctx)
    if note:
        out.append(note)
    return out


def thread_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    target, node = frame.target, frame.node
    if not ctx.on_target_host or target is None or not target.alive or node is None:
        return None
    ncpu = ctx.ncpu(frame)
    if ncpu < 2:  # one core: the node rule says it
        return None
    idle = ncpu - max(0.0, node.cpu.busy_pct / 100 * ncpu - ctx.observer_cores[i])
    if idle < IDLE_CORES:
        return None
    window = ctx.target_stacks(i)
    gil = window.gil_pct if window is not None else None
    values = {"proc": target.cpu_pct, "busy": node.cpu.busy_pct, "idle": idle}
    names = {"function": window.functions[0].name} if window is not None and window.functions else {}
    if gil is not None:
        values["gil"] = gil
    top = max(target.threads, key=lambda t: t.cpu_pct, default=None)
    if top is not None and top.cpu_pct >= THREAD_HOT:
        values["thread"] = top.cpu_pct
        generic = not top.name or top.name == target.name  # the kernel knows Python threads by the process name
        names["thread"] = (ctx.thread_names.get(top.tid) if generic else None) or top.name or str(top.tid)
        strength = 0.6 * clamp((top.cpu_pct - THREAD_HOT) / (100 - THREAD_HOT)) + 0.4 * clamp((gil or 0) / 100)
        return Hit(2, strength, f"pid {target.pid} thread {names['thread']}", values, names)
    # Many threads sharing one core between them: the GIL (or one lock-step loop) of a single process.
    threads = max(target.num_threads, len(target.threads))
    if target.children == 0 and threads > 1 and 80 <= target.cpu_pct <= 120 and (gil is None or gil >= 50):
        strong = (gil is not None and gil >= GIL_SAT) or ctx.pressured[i] is True
        values["threads"] = float(threads)
        strength = 0.3 + 0.7 * clamp((gil or 0) / 100)
        return Hit(2 if strong else 1, strength, f"pid {target.pid}", values, names)
    return None


def thread_describe(span: Span, ctx: Context) -> list[str]:
    pid = ctx.frames[span.end].target
    pid_s = f"pid {pid.pid}" if pid is not None else "the target"
    thread = span.common("thread")
    if thread:
        head = f"thread {thread} of {pid_s} at {span.mean('thread'):.0f} % of one core"
    else:
        head = (f"{pid_s} at {span.mean('proc'):.0f} % of one core, shared by {span.mean('threads'):.0f} "
                "threads that never used a second core")
    out = [f"{head} {during(span)} while the node was {span.mean('busy'):.0f} % busy "
           f"({span.mean('idle'):.1f} cores idle without the load driver)"]
    function = span.common("function")
    if any("gil" in h.values for h in span.hits):
        where = f" in {function}" if function else ""
        out.append(f"{span.mean('gil'):.0f} % of samples hold the GIL{where}")
    elif function:
        out.append(f"the busiest function is {function}")
    return out


CPU = Rule("cpu", cpu_hit, cpu_describe)
CPU_THREAD = Rule("cpu-thread", thread_hit, thread_describe, specific=True)
