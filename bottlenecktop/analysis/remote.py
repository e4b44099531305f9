"""Remote nodes judged by the same rules as this one: each host's NodeSamples (from its exporters) make a
timeline of their own, the node rules run over it, and each finding names the host; a process-exporter group's
busiest thread is judged by the cpu-thread rule the same way.

What an exporter does not offer (no PSI on an old kernel) and the ticks it missed (gaps) lower a finding's score,
and with it the verdict's confidence, and the evidence says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from bottlenecktop.analysis.context import Context, build_context
from bottlenecktop.analysis.findings import Finding
from bottlenecktop.analysis.rules import Rule
from bottlenecktop.analysis.rules.base import during
from bottlenecktop.analysis.rules.cpu import CPU, CPU_THREAD, THREAD_HOT
from bottlenecktop.analysis.rules.disk import DISK
from bottlenecktop.analysis.rules.memory import MEMORY
from bottlenecktop.analysis.rules.network import ACCEPT_QUEUE, NETWORK
from bottlenecktop.analysis.window import Span
from bottlenecktop.probes.samples import LoadSecond, ProcSample, RemoteGroup, RemoteSample, ThreadSample
from bottlenecktop.session import Frame, Header, Target

Judge = Callable[[Sequence[Rule], Context, float], list[Finding]]

NODE_RULES: tuple[Rule, ...] = (CPU, MEMORY, DISK, NETWORK, ACCEPT_QUEUE)
# The signals each resource is judged by that an exporter may lack; each one missing costs MISSING_COST.
NEEDS: dict[str, tuple[str, ...]] = {
    "cpu": ("psi-cpu", "run-queue"),
    "memory": ("psi-memory", "vmstat"),
    "disk": ("psi-io",),
    "network": ("network", "tcp"),
    "accept-queue": ("listen-overflows",),
    "cpu-thread": ("threads",),
}
MISSING_COST = 0.15  # share of the score lost per missing signal
GAP_COST = 0.5  # share of the score lost when every tick of the span is a gap
SOURCE_NAMES = {"node-exporter": "node_exporter", "process-exporter": "process-exporter", "prometheus": "Prometheus"}


def remote_findings(header: Header, frames: Sequence[Frame], window_s: float, judge: Judge) -> list[Finding]:
    """Findings on every remote host in the frames, each with ``host`` set and the host in its scope."""
    hosts = list(dict.fromkeys(s.host for f in frames for s in f.remote))
    found: list[Finding] = []
    for host in hosts:
        samples = [next((s for s in f.remote if s.host == host), None) for f in frames]
        source = SOURCE_NAMES.get(next(s.source for s in samples if s is not None), "exporter")
        missing = list(dict.fromkeys(m for s in samples if s is not None for m in s.missing))
        here = on_this_box(host)
        node_frames = [_frame(f, s, None, here) for f, s in zip(frames, samples, strict=True)]
        ctx = build_context(_host_header(header, node_frames, here), node_frames)
        for f in judge(NODE_RULES, ctx, window_s):
            found.append(_on_host(f, host, source, missing, samples, frames,
                                  first=f"node {host} ({source}): "))
        for group in dict.fromkeys(g.group for s in samples if s is not None for g in s.groups):
            groups = [_group(s, group) for s in samples]
            group_frames = [_frame(f, s, g, here) for f, s, g in zip(frames, samples, groups, strict=True)]
            gctx = build_context(_host_header(header, group_frames, here), group_frames)
            for f in judge((CPU_THREAD,), gctx, window_s):
                found.append(_thread_finding(f, host, group, groups, gctx, missing, samples, frames))
    return found


def on_this_box(host: str) -> bool:
    """An exporter on a loopback address describes this machine, where the load driver and bottlenecktop run."""
    name = host.rpartition(":")[0] if not host.startswith("[") else host[1:].partition("]")[0]
    name = name or host
    return name == "localhost" or name == "::1" or name.startswith("127.")


def _host_header(header: Header, frames: Sequence[Frame], here: bool) -> Header:
    """The header as if bottlenecktop judged that host: the target is there; the observer too only when the
    host is this machine."""
    ncpu = next((f.node.cpu.ncpu for f in frames if f.node is not None), header.cpu_count)
    return msgspec.structs.replace(header, target=Target(url=header.target.url, pid=None, local=True),
                                   driver_pid=header.driver_pid if here else None,
                                   self_pid=header.self_pid if here else None, remote_sources=[], cpu_count=ncpu)


def _frame(frame: Frame, sample: RemoteSample | None, group: RemoteGroup | None, here: bool) -> Frame:
    """The frame as that host saw it: its node (None in a gap), a group as its target, this run's load. The
    observer's CPU (driver, bottlenecktop) is taken out only on this machine: on another host it is not there."""
    node = sample.node if sample is not None and not sample.stale else None
    load: LoadSecond | None = frame.load
    if load is not None and load.driver_cpu_pct and not here:
        load = msgspec.structs.replace(load, driver_cpu_pct=0.0)
    return Frame(t=frame.t, load=load, step=frame.step, outcome=frame.outcome, node=node,
                 target=_as_proc(group) if node is not None and group is not None else None,
                 driver=frame.driver if here else None, self_proc=frame.self_proc if here else None)


def _group(sample: RemoteSample | None, name: str) -> RemoteGroup | None:
    if sample is None or sample.stale:
        return None
    return next((g for g in sample.groups if g.group == name and g.cpu_pct is not None), None)


def _as_proc(group: RemoteGroup) -> ProcSample:
    """A group as the process sample the cpu-thread rule reads. Threads that share a name are summed by the
    exporter: the busiest of them used at least the mean, which is what is given (a lower bound)."""
    threads = [ThreadSample(tid=0, name=t.name, cpu_pct=t.cpu_pct / max(1, t.count)) for t in group.threads]
    return ProcSample(pid=0, name=group.group, cpu_pct=group.cpu_pct or 0.0, threads=threads,
                      num_threads=group.num_threads, rss=group.rss, fds=group.fds,
                      children=max(0, group.procs - 1))


def _quality(f: Finding, missing: list[str], samples: Sequence[RemoteSample | None],
             frames: Sequence[Frame]) -> tuple[float, list[str]]:
    """The factor the score keeps, and the sentences that say why it is lower."""
    lacks = [m for m in NEEDS.get(f.resource, ()) if m in missing]
    span = [s for fr, s in zip(frames, samples, strict=True) if f.t_start < fr.t <= f.t_end + 1e-6]
    gaps = sum(1 for s in span if s is None or s.stale or s.node is None)
    factor = (1 - MISSING_COST) ** len(lacks) * (1 - GAP_COST * gaps / len(span) if span else 1.0)
    said = []
    if lacks:
        said.append(f"the exporter does not offer {', '.join(lacks)}: judged without it, with less confidence")
    if gaps:
        said.append(f"{gaps} of {len(span)} ticks in that window were gaps (no fresh scrape)")
    return factor, said


def _on_host(f: Finding, host: str, source: str, missing: list[str], samples: Sequence[RemoteSample | None],
             frames: Sequence[Frame], first: str) -> Finding:
    factor, said = _quality(f, missing, samples, frames)
    evidence = [first + f.evidence[0], *f.evidence[1:], *said] if f.evidence else said
    return msgspec.structs.replace(f, scope=f"node {host}", host=host, score=round(f.score * factor, 3),
                                   evidence=evidence)


def _thread_finding(f: Finding, host: str, group: str, groups: Sequence[RemoteGroup | None], ctx: Context,
                    missing: list[str], samples: Sequence[RemoteSample | None], frames: Sequence[Frame]) -> Finding:
    """cpu-thread on a remote group: the thread named from the group's own samples over the finding's span."""
    idx = [i for i, fr in enumerate(frames) if f.t_start < fr.t <= f.t_end + 1e-6]
    tops = [max(g.threads, key=lambda t: t.cpu_pct / max(1, t.count)) for g in (groups[i] for i in idx)
            if g is not None and g.threads]
    names = [t.name for t in tops if t.cpu_pct / max(1, t.count) >= THREAD_HOT]
    span = Span(idx[0], idx[-1], f.t_start, f.t_end, []) if idx else None
    busy = [ctx.frames[i].node.cpu.busy_pct for i in idx if ctx.frames[i].node is not None]  # type: ignore[union-attr]
    node_busy = f" while the node was {sum(busy) / len(busy):.0f} % busy" if busy else ""
    when = during(span) if span is not None else ""
    if names:
        name = max(set(names), key=names.count)
        pct = [t.cpu_pct / max(1, t.count) for t in tops if t.name == name]
        scope = f"thread {name} of {group} on node {host}"
        head = f"thread {name} of {group} on node {host} at {sum(pct) / len(pct):.0f} % of one core {when}"
    else:
        procs = [g.cpu_pct or 0.0 for g in (groups[i] for i in idx) if g is not None]
        scope = f"{group} on node {host}"
        head = (f"{group} on node {host} at {sum(procs) / max(1, len(procs)):.0f} % of one core {when}, its "
                "threads never using a second core")
    factor, said = _quality(f, missing, samples, frames)
    evidence = [f"{head}{node_busy} (process-exporter)", *said]
    return msgspec.structs.replace(f, scope=scope, host=host, score=round(f.score * factor, 3), evidence=evidence)
