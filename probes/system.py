"""The node probe: CPU, memory, disks, network and TCP of this machine, one NodeSample per call.

Counters are read straight from /proc (no process list except every TOP_EVERY-th sample), so a sample costs
well under a millisecond of CPU. Anything the kernel does not offer is said once in ``notices`` and skipped.
"""

from __future__ import annotations

import os
import time

from bottlenecktop.probes import procfs, sockdiag
from bottlenecktop.probes.samples import CpuSample, DiskSample, NetSample, NodeSample, ProcBrief, TcpSample
from bottlenecktop.probes.top_procs import TopProcs

TOP_EVERY = 5  # the busiest-process list is the costly part: refresh it every 5th sample only
QUOTA_EVERY = 30  # the cgroup quota rarely changes


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole > 0 else 0.0


class NodeProbe:
    """Samples the node. Call ``sample()`` once per tick from one thread; it never raises."""

    def __init__(self, listen_port: int | None = None) -> None:
        self.listen_port = listen_port
        self.notices: list[str] = []
        self._said: set[str] = set()
        self._n = 0
        self._t: float | None = None
        self._cpu: list[list[int]] = []
        self._psi: dict[str, tuple[int, int | None] | None] = {}
        self._vm: dict[str, int] = {}
        self._disk_names = procfs.whole_disks()
        self._disks: dict[str, list[int]] = {}
        self._nets: dict[str, list[int]] = {}
        self._speeds: dict[str, float | None] = {}
        self._tcp: dict[str, int] = {}
        self._quota: float | None = None
        self._top = TopProcs()
        self._ncpu = os.cpu_count() or 1

    def _notice(self, text: str) -> None:
        if text not in self._said:
            self._said.add(text)
            self.notices.append(text)

    def sample(self) -> NodeSample:
        """Rates over the time since the previous call (the first call primes counters: rates are 0).
        ``cost_ms`` is the CPU time this call spent, in ms."""
        c0 = time.thread_time()
        now = time.monotonic()
        dt = now - self._t if self._t is not None else 0.0
        out = NodeSample()
        for part in (self._sample_cpu, self._sample_psi, self._sample_memory, self._sample_disks,
                     self._sample_nets, self._sample_tcp, self._sample_top):
            try:
                part(out, dt)
            except Exception as exc:  # one broken reader must not stop the others
                self._notice(f"node probe: {part.__name__[8:]} unavailable ({type(exc).__name__}: {exc})")
        self._t = now
        self._n += 1
        out.cost_ms = (time.thread_time() - c0) * 1000.0
        return out

    def _sample_cpu(self, out: NodeSample, dt: float) -> None:
        rows, running = procfs.cpu_stat()
        cpu = CpuSample(ncpu=max(1, len(rows) - 1), procs_running=running)
        if self._n % QUOTA_EVERY == 0:
            self._quota = procfs.cgroup_cpu_quota()
        cpu.quota_cores = self._quota
        prev = self._cpu
        if prev and len(prev) == len(rows):
            deltas = [[a - b for a, b in zip(r, p, strict=False)] for r, p in zip(rows, prev, strict=False)]
            # columns: user nice system idle iowait irq softirq steal; busy = all but idle and iowait
            tot = deltas[0]
            whole = sum(tot)
            cpu.busy_pct = _pct(whole - tot[3] - tot[4], whole)
            cpu.user = _pct(tot[0] + tot[1], whole)
            cpu.system = _pct(tot[2] + tot[5], whole)
            cpu.iowait = _pct(tot[4], whole)
            cpu.softirq = _pct(tot[6], whole)
            cpu.steal = _pct(tot[7], whole)
            cpu.per_core = [round(_pct(sum(d) - d[3] - d[4], sum(d)), 2) for d in deltas[1:]]
        self._cpu = rows
        out.cpu = cpu

    def _psi_pct(self, resource: str, dt: float) -> tuple[float | None, float | None]:
        cur = procfs.psi_totals(resource)
        if cur is None:
            self._notice(f"no PSI for {resource} on this kernel (/proc/pressure/{resource}): its pressure is not shown")
            return None, None
        prev = self._psi.get(resource)
        self._psi[resource] = cur
        if prev is None or dt <= 0:
            return 0.0, (0.0 if cur[1] is not None else None)
        some = min(100.0, (cur[0] - prev[0]) / (dt * 1e6) * 100.0)
        full = None
        if cur[1] is not None and prev[1] is not None:
            full = min(100.0, (cur[1] - prev[1]) / (dt * 1e6) * 100.0)
        return some, full

    def _sample_psi(self, out: NodeSample, dt: float) -> None:
        out.cpu.psi_some, _ = self._psi_pct("cpu", dt)
        out.memory.psi_some, out.memory.psi_full = self._psi_pct("memory", dt)
        out.psi_io_some, out.psi_io_full = self._psi_pct("io", dt)

    def _sample_memory(self, out: NodeSample, dt: float) -> None:
        info = procfs.meminfo()
        mem = out.memory
        mem.total = info.get("MemTotal", 0)
        mem.available = info.get("MemAvailable", info.get("MemFree", 0))
        mem.available_pct = _pct(mem.available, mem.total) if mem.total else 100.0
        vm = procfs.vmstat()
        if "oom_kill" not in vm:
            self._notice("no oom_kill counter in /proc/vmstat on this kernel: OOM kills are not counted")
        if self._vm and dt > 0:
            mem.swap_in = (vm.get("pswpin", 0) - self._vm.get("pswpin", 0)) / dt
            mem.swap_out = (vm.get("pswpout", 0) - self._vm.get("pswpout", 0)) / dt
            mem.major_faults = (vm.get("pgmajfault", 0) - self._vm.get("pgmajfault", 0)) / dt
            mem.oom_kills = max(0, vm.get("oom_kill", 0) - self._vm.get("oom_kill", 0))
        self._vm = vm

    def _sample_disks(self, out: NodeSample, dt: float) -> None:
        cur = procfs.diskstats(self._disk_names)
        disks: dict[str, DiskSample] = {}
        for name, row in cur.items():
            prev = self._disks.get(name)
            if prev is None or dt <= 0:
                disks[name] = DiskSample()
                continue
            rd, rs, rms, wr, ws, wms, io_ms, wq_ms = (a - b for a, b in zip(row, prev, strict=False))
            ios = rd + wr
            disks[name] = DiskSample(
                busy_pct=min(100.0, io_ms / (dt * 10.0)),
                queue=wq_ms / (dt * 1000.0),
                await_ms=(rms + wms) / ios if ios else 0.0,
                r_iops=rd / dt,
                w_iops=wr / dt,
                r_bps=rs * 512 / dt,
                w_bps=ws * 512 / dt,
            )
        self._disks = cur
        out.disks = disks

    def _sample_nets(self, out: NodeSample, dt: float) -> None:
        cur = procfs.net_dev()
        nets: dict[str, NetSample] = {}
        for name, row in cur.items():
            if name not in self._speeds:
                self._speeds[name] = procfs.link_speed_mbps(name)
            prev = self._nets.get(name)
            ns = NetSample(speed_mbps=self._speeds[name])
            if prev is not None and dt > 0:
                d = [a - b for a, b in zip(row, prev, strict=False)]
                ns.rx_bps, ns.rx_pps = d[0] / dt, d[1] / dt
                ns.tx_bps, ns.tx_pps = d[4] / dt, d[5] / dt
                ns.errors = (d[2] + d[6]) / dt
                ns.drops = (d[3] + d[7]) / dt
            nets[name] = ns
        self._nets = cur
        if len(self._speeds) > len(cur):  # interfaces come and go (a container's veth): forget the gone ones
            self._speeds = {name: self._speeds[name] for name in cur}
        out.nets = nets

    def _sample_tcp(self, out: NodeSample, dt: float) -> None:
        cur = procfs.tcp_counters()
        tcp = TcpSample()
        if self._tcp and dt > 0:
            sent = cur["OutSegs"] - self._tcp["OutSegs"]
            retr = cur["RetransSegs"] - self._tcp["RetransSegs"]
            tcp.out_segs = sent / dt
            tcp.retrans_ratio = retr / sent if sent > 0 else 0.0
            tcp.listen_overflows = max(0, cur["ListenOverflows"] - self._tcp["ListenOverflows"])
            tcp.listen_drops = max(0, cur["ListenDrops"] - self._tcp["ListenDrops"])
        self._tcp = cur
        try:
            tcp.states, tcp.accept_queue, tcp.accept_backlog = sockdiag.tcp_states(self.listen_port)
        except OSError:
            self._notice("no sock_diag netlink here: socket states read from /proc/net/tcp, listen queue limit unknown")
            tcp.states, tcp.accept_queue = procfs.tcp_sockets(self.listen_port)
        out.tcp = tcp

    def _sample_top(self, out: NodeSample, dt: float) -> None:
        # prime on the first sample, report on the second, then every TOP_EVERY-th (CPU over the gap)
        if self._n == 0:
            self._top.refresh()
        elif self._n % TOP_EVERY == 1:
            briefs = self._top.refresh()
            out.top_procs = [ProcBrief(pid=p, name=n, cpu_pct=c, rss=r) for p, n, c, r in briefs]
