"""process-exporter's series -> one RemoteGroup per named process group, threads by name with their CPU.

process-exporter sums the threads that share a name (``thread_count`` of them); CPU is % of one core, the
sum over its modes (user, system), as the local process probe counts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bottlenecktop.probes.remote.deltas import Deltas
from bottlenecktop.probes.remote.metrics import Labels, Reading, labels_key
from bottlenecktop.probes.samples import RemoteGroup, RemoteThread

GROUP_METRICS = ("namedprocess_namegroup_",)
P = "namedprocess_namegroup_"


@dataclass
class GroupsReading:
    groups: list[RemoteGroup]  # busiest first; empty on the first reading
    missing: list[str] = field(default_factory=list)
    resets: list[str] = field(default_factory=list)


def _by(reading: Reading, name: str, keep: tuple[str, ...]) -> dict[Labels, list[Labels]]:
    """Series of NAME grouped by the labels in KEEP: (kept labels) -> [full label keys]."""
    out: dict[Labels, list[Labels]] = {}
    for key in reading.get(name, {}):
        labels = dict(key)
        out.setdefault(labels_key({k: labels.get(k, "") for k in keep}), []).append(key)
    return out


def _sum_rate(d: Deltas, name: str, keys: list[Labels]) -> float | None:
    """Per second, summed over KEYS (the modes of one counter); None when any part is a gap."""
    rates = [d.rate(name, k) for k in keys]
    return sum(r for r in rates if r is not None) if rates and all(r is not None for r in rates) else None


def _gauge(reading: Reading, name: str, key: Labels) -> float | None:
    return reading.get(name, {}).get(key)


def missing_signals(cur: Reading) -> list[str]:
    out = []
    if f"{P}cpu_seconds_total" not in cur:
        out.append("group-cpu")
    if f"{P}thread_cpu_seconds_total" not in cur:
        out.append("threads")  # the exporter runs without -threads=true
    return out


def groups_reading(cur: Reading, prev: Reading | None, dt: float) -> GroupsReading:
    """The groups over the ``dt`` seconds between two readings (``prev`` None: the first one, a gap)."""
    missing = missing_signals(cur)
    if prev is None or dt <= 0:
        return GroupsReading([], missing)
    d = Deltas(cur, prev, dt)
    cpu = _by(cur, f"{P}cpu_seconds_total", ("groupname",))
    threads = _by(cur, f"{P}thread_cpu_seconds_total", ("groupname", "threadname"))
    groups: list[RemoteGroup] = []
    names = sorted({dict(k).get("groupname", "") for k in cur.get(f"{P}num_procs", {})} |
                   {dict(k).get("groupname", "") for k in cpu})
    for name in names:
        g = labels_key({"groupname": name})
        rate = _sum_rate(d, f"{P}cpu_seconds_total", cpu.get(g, []))
        group = RemoteGroup(
            group=name,
            procs=int(_gauge(cur, f"{P}num_procs", g) or 0),
            cpu_pct=rate * 100.0 if rate is not None else None,
            num_threads=int(_gauge(cur, f"{P}num_threads", g) or 0),
            rss=int(_gauge(cur, f"{P}memory_bytes", labels_key({"groupname": name, "memtype": "resident"})) or 0),
            fds=int(_gauge(cur, f"{P}open_filedesc", g) or 0),
            fd_ratio=_gauge(cur, f"{P}worst_fd_ratio", g),
            ctx_voluntary=d.rate(f"{P}context_switches_total",
                                 labels_key({"ctxswitchtype": "voluntary", "groupname": name})) or 0.0,
            ctx_involuntary=d.rate(f"{P}context_switches_total",
                                   labels_key({"ctxswitchtype": "nonvoluntary", "groupname": name})) or 0.0,
            read_bps=d.rate(f"{P}read_bytes_total", g) or 0.0,
            write_bps=d.rate(f"{P}write_bytes_total", g) or 0.0,
            major_faults=d.rate(f"{P}major_page_faults_total", g) or 0.0,
        )
        per_name = []
        for tkey, keys in threads.items():
            labels = dict(tkey)
            if labels.get("groupname") != name:
                continue
            trate = _sum_rate(d, f"{P}thread_cpu_seconds_total", keys)
            if trate is None:  # a thread name new this tick, or one whose threads exited (its sum went down)
                continue
            count = _gauge(cur, f"{P}thread_count", tkey)
            per_name.append(RemoteThread(name=labels.get("threadname", ""), cpu_pct=round(trate * 100.0, 2),
                                         count=int(count) if count else 1))
        group.threads = sorted(per_name, key=lambda t: -t.cpu_pct)
        groups.append(group)
    groups.sort(key=lambda g: -(g.cpu_pct or 0.0))
    return GroupsReading(groups, missing, d.resets)
