"""node_exporter's series -> the NodeSample the local node probe makes, as far as the exporter has the data.

The arithmetic is the local probe's (probes/system.py) over the exporter's counters: busy CPU is every mode but
idle and iowait, PSI is stall seconds per second, disk busy is io_time per second. What the exporter lacks is
listed in ``missing`` and left at None where the field allows it (PSI), else at its default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bottlenecktop.probes.remote.deltas import Deltas
from bottlenecktop.probes.remote.metrics import Reading, labels_key, one
from bottlenecktop.probes.samples import CpuSample, DiskSample, MemorySample, NetSample, NodeSample, TcpSample

CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
PSI = {  # NodeSample field -> node_exporter series (some = "waiting", full = "stalled")
    "cpu": "node_pressure_cpu_waiting_seconds_total",
    "memory_some": "node_pressure_memory_waiting_seconds_total",
    "memory_full": "node_pressure_memory_stalled_seconds_total",
    "io_some": "node_pressure_io_waiting_seconds_total",
    "io_full": "node_pressure_io_stalled_seconds_total",
}
DISK = ("reads_completed_total", "read_bytes_total", "read_time_seconds_total", "writes_completed_total",
        "written_bytes_total", "write_time_seconds_total", "io_time_seconds_total",
        "io_time_weighted_seconds_total")
NET = ("receive_bytes_total", "receive_packets_total", "receive_errs_total", "receive_drop_total",
       "transmit_bytes_total", "transmit_packets_total", "transmit_errs_total", "transmit_drop_total")
# The series a node reading needs: the rest of the page (a thousand lines) is skipped before parsing.
NODE_METRICS = (
    "node_cpu_seconds_total", "node_pressure_", "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes",
    "node_memory_MemFree_bytes", "node_vmstat_pswpin", "node_vmstat_pswpout", "node_vmstat_pgmajfault",
    "node_vmstat_oom_kill", *(f"node_disk_{m}" for m in DISK), *(f"node_network_{m}" for m in NET),
    "node_network_speed_bytes", "node_netstat_Tcp_OutSegs", "node_netstat_Tcp_RetransSegs",
    "node_netstat_Tcp_CurrEstab", "node_netstat_TcpExt_ListenOverflows", "node_netstat_TcpExt_ListenDrops",
    "node_sockstat_TCP_tw", "node_procs_running", "node_load1",
)


@dataclass
class NodeReading:
    sample: NodeSample | None  # None: a gap (first reading, or a node-wide counter went down)
    load1: float | None = None
    missing: list[str] = field(default_factory=list)
    resets: list[str] = field(default_factory=list)


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole > 0 else 0.0


def missing_signals(cur: Reading) -> list[str]:
    """What this exporter does not offer (an old kernel without PSI, a collector switched off)."""
    out = []
    if "node_cpu_seconds_total" not in cur:
        out.append("cpu")
    if PSI["cpu"] not in cur:
        out.append("psi-cpu")
    if PSI["memory_some"] not in cur:
        out.append("psi-memory")
    if PSI["io_some"] not in cur:
        out.append("psi-io")
    if "node_memory_MemTotal_bytes" not in cur:
        out.append("memory")
    if "node_vmstat_pswpin" not in cur:
        out.append("vmstat")
    if "node_disk_io_time_seconds_total" not in cur:
        out.append("disk")
    if "node_network_receive_bytes_total" not in cur:
        out.append("network")
    if "node_netstat_Tcp_OutSegs" not in cur:
        out.append("tcp")
    if "node_netstat_TcpExt_ListenOverflows" not in cur:
        out.append("listen-overflows")
    if "node_procs_running" not in cur:
        out.append("run-queue")
    return out


def node_reading(cur: Reading, prev: Reading | None, dt: float) -> NodeReading:
    """The node over the ``dt`` seconds between two readings (``prev`` None: the first one, a gap)."""
    missing = missing_signals(cur)
    load1 = one(cur, "node_load1")
    if prev is None or dt <= 0:
        return NodeReading(None, load1, missing)
    d = Deltas(cur, prev, dt)
    out = NodeSample()
    out.cpu = _cpu(d)
    out.cpu.psi_some = _psi(d, "cpu")
    out.memory = _memory(d)
    out.psi_io_some, out.psi_io_full = _psi(d, "io_some"), _psi(d, "io_full")
    node_resets = list(d.resets)  # node-wide counters so far: one going down is a reboot or a restart
    out.disks = _disks(d)
    out.nets = _nets(d, cur)
    out.tcp = _tcp(d, cur)
    node_resets += [r for r in d.resets[len(node_resets):] if r.startswith("node_netstat_")]
    return NodeReading(None if node_resets else out, load1, missing, d.resets)


def _cpu(d: Deltas) -> CpuSample:
    cores = sorted({dict(k).get("cpu", "") for k in d.keys("node_cpu_seconds_total")},
                   key=lambda c: (len(c), c))
    per_core: list[float] = []
    total = dict.fromkeys(CPU_MODES, 0.0)
    for core in cores:
        modes = {m: d.of("node_cpu_seconds_total", labels_key({"cpu": core, "mode": m})) for m in CPU_MODES}
        if any(v is None for v in modes.values()):
            continue
        whole = sum(v or 0.0 for v in modes.values())
        per_core.append(round(_pct(whole - (modes["idle"] or 0.0) - (modes["iowait"] or 0.0), whole), 2))
        for m, v in modes.items():
            total[m] += v or 0.0
    whole = sum(total.values())
    running = one(d.cur, "node_procs_running")
    return CpuSample(
        busy_pct=_pct(whole - total["idle"] - total["iowait"], whole),
        per_core=per_core,
        user=_pct(total["user"] + total["nice"], whole),
        system=_pct(total["system"] + total["irq"], whole),
        iowait=_pct(total["iowait"], whole),
        softirq=_pct(total["softirq"], whole),
        steal=_pct(total["steal"], whole),
        ncpu=max(1, len(cores)),
        procs_running=int(running) if running is not None else 0,
    )


def _psi(d: Deltas, which: str) -> float | None:
    rate = d.rate(PSI[which])
    return min(100.0, rate * 100.0) if rate is not None else None


def _memory(d: Deltas) -> MemorySample:
    total = one(d.cur, "node_memory_MemTotal_bytes") or 0.0
    avail = one(d.cur, "node_memory_MemAvailable_bytes")
    if avail is None:
        avail = one(d.cur, "node_memory_MemFree_bytes") or 0.0
    return MemorySample(
        total=int(total),
        available=int(avail),
        available_pct=_pct(avail, total) if total else 100.0,
        swap_in=d.rate("node_vmstat_pswpin") or 0.0,
        swap_out=d.rate("node_vmstat_pswpout") or 0.0,
        major_faults=d.rate("node_vmstat_pgmajfault") or 0.0,
        oom_kills=int(d.of("node_vmstat_oom_kill") or 0),
        psi_some=_psi(d, "memory_some"),
        psi_full=_psi(d, "memory_full"),
    )


def _devices(d: Deltas, name: str) -> list[str]:
    return sorted({dict(k).get("device", "") for k in d.keys(name)} - {""})


def _disks(d: Deltas) -> dict[str, DiskSample]:
    out: dict[str, DiskSample] = {}
    for dev in _devices(d, "node_disk_io_time_seconds_total"):
        key = labels_key({"device": dev})
        vals = [d.of(f"node_disk_{m}", key) for m in DISK]
        if any(v is None for v in vals):  # a new device, or one whose counters went down: not this tick
            continue
        rd, rb, rt, wr, wb, wt, io, weighted = (v or 0.0 for v in vals)
        ios = rd + wr
        out[dev] = DiskSample(
            busy_pct=min(100.0, io / d.dt * 100.0),
            queue=weighted / d.dt,
            await_ms=(rt + wt) * 1000.0 / ios if ios else 0.0,
            r_iops=rd / d.dt,
            w_iops=wr / d.dt,
            r_bps=rb / d.dt,
            w_bps=wb / d.dt,
        )
    return out


def _nets(d: Deltas, cur: Reading) -> dict[str, NetSample]:
    out: dict[str, NetSample] = {}
    for dev in _devices(d, "node_network_receive_bytes_total"):
        key = labels_key({"device": dev})
        vals = [d.of(f"node_network_{m}", key) for m in NET]
        if any(v is None for v in vals):
            continue
        rb, rp, re, rd, tb, tp, te, td = (v or 0.0 for v in vals)
        speed = cur.get("node_network_speed_bytes", {}).get(key)
        out[dev] = NetSample(
            rx_bps=rb / d.dt, rx_pps=rp / d.dt, tx_bps=tb / d.dt, tx_pps=tp / d.dt,
            errors=(re + te) / d.dt, drops=(rd + td) / d.dt,
            speed_mbps=speed * 8 / 1e6 if speed is not None and speed > 0 else None,  # -1: unknown
        )
    return out


def _tcp(d: Deltas, cur: Reading) -> TcpSample:
    tcp = TcpSample()
    sent = d.of("node_netstat_Tcp_OutSegs")
    retr = d.of("node_netstat_Tcp_RetransSegs")
    if sent is not None:
        tcp.out_segs = sent / d.dt
        tcp.retrans_ratio = (retr or 0.0) / sent if sent > 0 else 0.0
    tcp.listen_overflows = int(d.of("node_netstat_TcpExt_ListenOverflows") or 0)
    tcp.listen_drops = int(d.of("node_netstat_TcpExt_ListenDrops") or 0)
    states = {}
    estab = one(cur, "node_netstat_Tcp_CurrEstab")
    if estab is not None:
        states["ESTABLISHED"] = int(estab)
    tw = one(cur, "node_sockstat_TCP_tw")
    if tw is not None:
        states["TIME_WAIT"] = int(tw)
    tcp.states = states
    return tcp
