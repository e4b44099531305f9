"""The process probe: one target process (and its children), one ProcSample per call.

Per-thread CPU and run delay come from /proc/PID/task/TID/schedstat (nanoseconds, so a 1 s tick is precise);
the process total from /proc/PID/stat, which also keeps the time of threads that ended within the tick.
The child list needs a full process scan, so it is refreshed only every CHILDREN_EVERY-th sample.
"""

from __future__ import annotations

import os
import time
from collections import deque

import psutil

from bottlenecktop.probes import procfs
from bottlenecktop.probes.samples import ProcSample, ThreadSample

CHILDREN_EVERY = 5
RSS_WINDOW_S = 10.0  # the RSS growth rate is the slope over about this many seconds
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class ProcessNotFound(Exception):
    """The pid given to ProcessProbe does not exist (or is already a zombie)."""

    def __init__(self, pid: int) -> None:
        super().__init__(f"no process with pid {pid}")
        self.pid = pid


def _identity(pid: int) -> tuple[str, str] | None:
    """(name, start time in clock ticks) of a live process; None when gone or a zombie."""
    st = procfs.proc_stat_fields(pid)
    if st is None or len(st[1]) < 20 or st[1][0] in ("Z", "X"):
        return None
    return st[0], st[1][19]


def _fd_limit(pid: int) -> int:
    """The soft RLIMIT_NOFILE of PID, 0 when it cannot be read."""
    try:
        return int(psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)[0])
    except (psutil.Error, OSError, AttributeError):
        for line in (procfs.read_text(f"/proc/{pid}/limits") or "").splitlines():
            if line.startswith("Max open files"):
                soft = line.split()[3]
                return int(soft) if soft.isdigit() else 0
    return 0


class ProcessProbe:
    """Samples one process and (optionally) its descendants. Only ``__init__`` raises."""

    def __init__(self, pid: int, include_children: bool = True, top_threads: int = 16) -> None:
        ident = _identity(pid) if pid > 0 else None
        if ident is None:
            raise ProcessNotFound(pid)
        self.pid = pid
        self.include_children = include_children
        self.top_threads = top_threads
        self._name, self._start = ident
        self._alive = True
        # The scheduler state of the process at the last sample ("R", "S", "D", "T" stopped by a signal, "t"
        # stopped by a tracer, ...; "" before the first): a stop (SIGSTOP) leaves it alive but serving nothing.
        self.state = ""
        self._n = 0
        self._t: float | None = None
        self._children: list[int] = []
        self._cpu: dict[int, int] = {}  # pid -> utime+stime ticks
        self._threads: dict[tuple[int, int], tuple[int, int]] = {}  # (pid, tid) -> (run ns, delay ns)
        self._ctx: dict[tuple[int, int], tuple[int, int]] = {}
        self._io: dict[int, tuple[int, int]] = {}
        self._rss: deque[tuple[float, int]] = deque(maxlen=64)
        self._limits: dict[int, int] = {}

    def sample(self) -> ProcSample:
        """Rates over the time since the previous call (the first call primes counters: rates are 0).
        ``alive`` is False once the process has exited; this never raises."""
        if not self._alive:
            return ProcSample(pid=self.pid, alive=False, name=self._name)
        try:
            return self._sample()
        except Exception:  # a process can vanish between any two reads
            if _identity(self.pid) != (self._name, self._start):
                self._alive = False
            return ProcSample(pid=self.pid, alive=self._alive, name=self._name)

    def _refresh_children(self) -> None:
        if not self.include_children:
            return
        try:
            self._children = [c.pid for c in psutil.Process(self.pid).children(recursive=True)]
        except psutil.Error:
            self._children = []

    def _sample(self) -> ProcSample:
        ident = _identity(self.pid)
        if ident is None or ident[1] != self._start:
            self._alive = False
            self.state = ""
            return ProcSample(pid=self.pid, alive=False, name=self._name)
        self._name = ident[0]
        now = time.monotonic()
        dt = now - self._t if self._t is not None else 0.0
        if self._n % CHILDREN_EVERY == 0:
            self._refresh_children()
            self._limits = {}
        out = ProcSample(pid=self.pid, name=self._name)
        cpu: dict[int, int] = {}
        threads: dict[tuple[int, int], tuple[int, int]] = {}
        ctx: dict[tuple[int, int], tuple[int, int]] = {}
        io: dict[int, tuple[int, int]] = {}
        thread_pct: list[tuple[float, int, int]] = []  # (cpu %, pid, tid)
        worst_fd_ratio = -1.0
        live_children = 0
        for pid in [self.pid, *self._children]:
            st = procfs.proc_stat_fields(pid)
            if st is None or len(st[1]) < 22 or st[1][0] in ("Z", "X"):
                continue
            f = st[1]
            if pid != self.pid:
                live_children += 1
            else:
                self.state = f[0]
            cpu[pid] = int(f[11]) + int(f[12])
            out.rss += int(f[21]) * _PAGE
            out.num_threads += int(f[17])
            fds = procfs.count_fds(pid)
            if pid not in self._limits:
                self._limits[pid] = _fd_limit(pid)  # re-read with the child list: limits rarely change
            limit = self._limits[pid]
            if fds is not None:
                ratio = fds / limit if limit else 0.0
                if ratio > worst_fd_ratio:  # the process nearest its limit is the one that will fail first
                    worst_fd_ratio, out.fds, out.fd_limit = ratio, fds, limit
            got_io = procfs.io_bytes(pid)
            if got_io is not None:
                io[pid] = got_io
            for tid in procfs.list_tids(pid):
                ss = procfs.schedstat(pid, tid)
                if ss is None:
                    continue
                key = (pid, tid)
                threads[key] = ss
                ctx[key] = procfs.ctx_switches(pid, tid)
                prev = self._threads.get(key)
                if prev is not None and dt > 0:
                    thread_pct.append((100.0 * (ss[0] - prev[0]) / 1e9 / dt, pid, tid))
                    out.run_delay_ms += (ss[1] - prev[1]) / 1e6 / dt
                    pc = self._ctx.get(key, ctx[key])
                    out.ctx_voluntary += (ctx[key][0] - pc[0]) / dt
                    out.ctx_involuntary += (ctx[key][1] - pc[1]) / dt
                elif dt > 0 and pid in self._cpu:  # a thread born in this tick: all its time is new
                    thread_pct.append((100.0 * ss[0] / 1e9 / dt, pid, tid))
                    out.run_delay_ms += ss[1] / 1e6 / dt
        out.children = live_children
        if dt > 0:
            ticks = sum(c - self._cpu[p] for p, c in cpu.items() if p in self._cpu)
            out.cpu_pct = 100.0 * ticks / _TICK / dt
            out.read_bps = sum(v[0] - self._io[p][0] for p, v in io.items() if p in self._io) / dt
            out.write_bps = sum(v[1] - self._io[p][1] for p, v in io.items() if p in self._io) / dt
        thread_pct.sort(reverse=True)
        for pct, pid, tid in thread_pct[: self.top_threads]:
            name = (procfs.read_text(f"/proc/{pid}/task/{tid}/comm") or "").strip()
            out.threads.append(ThreadSample(tid=tid, name=name, cpu_pct=round(pct, 2)))
        self._rss.append((now, out.rss))
        while len(self._rss) > 2 and now - self._rss[0][0] > RSS_WINDOW_S:
            self._rss.popleft()
        t0, r0 = self._rss[0]
        out.rss_growth_bps = (out.rss - r0) / (now - t0) if now > t0 else 0.0
        self._cpu, self._threads, self._ctx, self._io = cpu, threads, ctx, io
        self._t = now
        self._n += 1
        return out
