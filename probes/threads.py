"""The kernel wait sampler: what each thread of the target (and its children) waits on, a few sweeps a second.

A sweep reads /proc/PID/task/TID/syscall (the blocked call and its arguments, or "running"), and for a thread
whose call changed since the last sweep its ``stat`` (the scheduler state: D is disk) and ``wchan``, through
files kept open and re-read with ``os.pread`` (a plain open/read sweep costs several times more). The fds a
blocked call waits on are resolved to sockets and their peers (probes/sockmap.py): read/recv/send take the fd
from the arguments, poll and select arrays are read through /proc/PID/mem, epoll sets from
/proc/PID/fdinfo/EPFD. The sampler runs on its own thread and measures its own CPU: the pause between sweeps
stretches so that it stays within ``budget_pct`` of one core whatever the thread count. ``take()`` hands the
tick loop the aggregate of the sweeps since the last call.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bottlenecktop.probes import procfs, syscalls
from bottlenecktop.probes.samples import KERNEL_WAIT_CLASSES, PeerWait, ProcessWaits, ThreadWait, WaitSample
from bottlenecktop.probes.sockmap import Endpoint, SocketMap
from bottlenecktop.probes.wait_classify import (
    MAX_POLL_FDS,
    MAX_SELECT_FDS,
    classify,
    decode_fdset,
    decode_pollfds,
    epoll_targets,
    parse_syscall,
    stat_state,
)

BUDGET_PCT = 1.5  # of one core; the ceiling is 2 % for a 200-thread target
MAX_HZ = 5.0  # a few sweeps a second are enough over a 1 s tick and a 5 s window
MAX_PAUSE_S = 5.0
# The fd -> socket map is rebuilt every MAP_EVERY_S and at most every MAP_EVERY_SWEEPS sweeps (sooner when a
# thread waits on an unknown fd). Each rebuild also ends the memo of unchanged samples, so at the slow sweep rates
# of a large target the scheduler state is re-read every few sweeps rather than at every one.
MAP_EVERY_S = 1.0
MAP_EVERY_SWEEPS = 3
MAP_SOONEST_S = 0.25
CHILDREN_EVERY_S = 2.0  # main threads' children this often; every thread's children CHILDREN_ALL_EVERY-th time
CHILDREN_ALL_EVERY = 5
TOP_THREADS = 8
TOP_PEERS = 8
TOP_NAMES = 6
_BUSY = ("running", "futex", "socket", "disk")  # the classes that rank a thread among the top threads


# (pid, tid, wait class, wchan, syscall name, the sockets waited on, fd set unreadable) of one thread sample
_Row = tuple[int, int, str, str, str | None, tuple[Endpoint, ...], bool]


_UNKNOWN_FD = Endpoint("other", "other", "")


@dataclass
class _Handle:
    """Open files of one thread; fds are -1 past the open-file cap (then read by open/read each sweep)."""

    pid: int
    tid: int
    stat: int = -1
    syscall: int = -1
    wchan: int = -1
    memo: tuple[bytes, int] | None = None  # (syscall line, socket map generation) of the last row
    row: _Row | None = None

    def close(self) -> None:
        for fd in (self.stat, self.syscall, self.wchan):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)


@dataclass
class _ThreadTally:
    pid: int
    samples: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    wchans: Counter[str] = field(default_factory=Counter)
    peers: dict[str, float] = field(default_factory=dict)


@dataclass
class _Window:
    """What the sweeps since the last take() saw: each distinct thread sample and how often it was seen (most
    blocked threads sit in the same call for many sweeps, so the sweep only counts; take() does the sums)."""

    t_start: float
    cpu_start: float  # the sampler thread's CPU clock (time.thread_time) at the window's start, seconds
    cpu_end: float = 0.0  # and at its last sweep
    sweeps: int = 0
    rows: dict[_Row, int] = field(default_factory=dict)


@dataclass
class _Totals:
    samples: int = 0
    unresolved: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    wchans: Counter[str] = field(default_factory=Counter)
    peers: dict[tuple[str, str], float] = field(default_factory=dict)  # (peer, role) -> thread-samples
    threads: dict[tuple[int, int], _ThreadTally] = field(default_factory=dict)
    procs: dict[int, Counter[str]] = field(default_factory=dict)


def _read(fd: int, base: str, name: str, size: int) -> bytes:
    """PREAD fd at 0, or open/read BASE/NAME when fd < 0; raises OSError when the thread is gone."""
    if fd >= 0:
        return os.pread(fd, size, 0)
    with open(f"{base}/{name}", "rb", buffering=0) as f:
        return f.read(size)


def children_of(pid: int, all_threads: bool = True) -> list[int]:
    """Descendants of PID from /proc/PID/task/TID/children (no full process scan). A child is listed under the
    thread that forked it; with ALL_THREADS False only each process's main thread is read (cheaper: servers
    fork from their main thread)."""
    out: list[int] = []
    todo = [pid]
    for _ in range(10_000):  # bounded: a process tree is finite, a pid can recur only through reuse
        if not todo:
            break
        p = todo.pop()
        for tid in procfs.list_tids(p) if all_threads else [p]:
            text = procfs.read_text(f"/proc/{p}/task/{tid}/children") or ""
            kids = [int(k) for k in text.split()]
            out.extend(kids)
            todo.extend(kids)
    return out


class WaitSampler:
    """Samples the kernel wait states of PID's threads on its own thread. Only ``__init__`` may raise."""

    def __init__(self, pid: int, *, t0: float, budget_pct: float = BUDGET_PCT, max_hz: float = MAX_HZ,
                 include_children: bool = True, machine: str | None = None, top_threads: int = TOP_THREADS) -> None:
        self.pid = pid
        self.t0 = t0
        self.budget_pct = budget_pct
        self.max_hz = max_hz
        self.include_children = include_children
        self.top_threads = top_threads
        self.error = ""
        self._names = syscalls.table(machine)
        self._start_time = self._identity()
        self._pids: list[int] = [pid]
        self._handles: dict[tuple[int, int], _Handle] = {}
        self._mem: dict[int, int] = {}  # pid -> fd of /proc/PID/mem, -1 when denied
        self._epoll: dict[tuple[int, int], list[int]] = {}  # (pid, epfd) -> registered fds, since the last map
        self._map = SocketMap()
        self._map_at = -1e9
        self._since_map = 0  # sweeps since the map was rebuilt
        self._map_stale = False
        self._children_at = -1e9
        self._children_n = 0
        self._generation = 0  # counts socket map refreshes: a memoised sample is valid within one
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self._max_open = max(0, (soft if soft > 0 else 1024) // 4)  # leave most fds to everything else
        self._open = 0
        self._lock = threading.Lock()
        self._window = _Window(t_start=self._now(), cpu_start=0.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gone = False
        self._said_gone = False
        self._own_tid = 0

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bottlenecktop-waits", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            self._close_all()

    def _run(self) -> None:
        self._own_tid = threading.get_native_id()
        with self._lock:
            self._window.cpu_start = time.thread_time()
        cost = 0.0
        while not self._stop.is_set():
            c0 = time.thread_time()
            try:
                alive = self._sweep()
            except Exception as exc:  # never let a surprise in /proc end the run; say it once a window
                self.error = f"wait sampler: {type(exc).__name__}: {exc}"
                alive = True
            if not alive:
                break
            spent = time.thread_time() - c0
            cost = spent if cost == 0.0 else 0.7 * cost + 0.3 * spent
            pause = min(MAX_PAUSE_S, max(1.0 / self.max_hz, cost / (self.budget_pct / 100.0)))
            self._stop.wait(max(0.0, pause - (time.thread_time() - c0)))
        self._close_all()

    def _close_all(self) -> None:
        for h in self._handles.values():
            h.close()
        self._handles.clear()
        self._open = 0
        for fd in self._mem.values():
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._mem.clear()

    # -- the aggregate ----------------------------------------------------------------------------------------
    def take(self, t_end: float | None = None) -> WaitSample | None:
        """The aggregate of the sweeps since the previous call; None when there were none (the target exited
        earlier, or no sweep ran yet). Runs on the caller's thread; never raises."""
        now = self._now() if t_end is None else t_end
        with self._lock:
            win = self._window
            self._window = _Window(t_start=now, cpu_start=win.cpu_end if win.sweeps else win.cpu_start)
        if win.sweeps == 0:
            if self._gone and not self._said_gone:
                self._said_gone = True
                return WaitSample(t_start=round(win.t_start, 3), t_end=round(now, 3), pid=self.pid,
                                  error=self.error or f"target pid {self.pid} exited")
            return None
        return self._summarise(win, now)

    @staticmethod
    def _totals(win: _Window) -> _Totals:
        out = _Totals()
        for row, n in win.rows.items():
            pid, tid, cls, wchan, call, socks, unresolved = row
            out.samples += n
            out.classes[cls] += n
            tally = out.threads.get((pid, tid))
            if tally is None:
                tally = out.threads[(pid, tid)] = _ThreadTally(pid=pid)
            tally.samples += n
            tally.classes[cls] += n
            out.procs.setdefault(pid, Counter())[cls] += n
            if call:
                out.calls[call] += n
                tally.calls[call] += n
            if wchan:
                out.wchans[wchan] += n
                tally.wchans[wchan] += n
            if unresolved:
                out.unresolved += n
            for e in socks:  # a thread waiting on N sockets waits 1/N on each
                share = n / len(socks)
                out.peers[(e.peer, e.role)] = out.peers.get((e.peer, e.role), 0.0) + share
                tally.peers[e.peer] = tally.peers.get(e.peer, 0.0) + share
        return out

    def _summarise(self, win: _Window, now: float) -> WaitSample:
        tot = self._totals(win)
        total = max(1, tot.samples)
        span = max(1e-6, now - win.t_start)

        def pct(n: float, of: int = total) -> float:
            return round(100.0 * n / max(1, of), 1)

        by_time = sorted(tot.peers.items(), key=lambda kv: -kv[1])[:TOP_PEERS]
        peers = [PeerWait(peer=peer, role=role, threads=round(n / win.sweeps, 2), pct=pct(n))  # type: ignore[arg-type]
                 for (peer, role), n in by_time]
        ranked = sorted(tot.threads.items(), key=lambda kv: -sum(kv[1].classes[c] for c in _BUSY))
        top: list[ThreadWait] = []
        for (pid, tid), tally in ranked[: self.top_threads]:  # idle threads fill what the busy ones leave
            comm = (procfs.read_text(f"/proc/{pid}/task/{tid}/comm") or "").strip()
            top.append(ThreadWait(
                tid=tid, pid=pid, name=comm, samples=tally.samples,
                waits={c: pct(n, tally.samples) for c, n in tally.classes.most_common()},
                syscall=tally.calls.most_common(1)[0][0] if tally.calls else "",
                wchan=tally.wchans.most_common(1)[0][0] if tally.wchans else "",
                peer=max(tally.peers, key=tally.peers.__getitem__) if tally.peers else "",
            ))
        procs: list[ProcessWaits] = []
        if len(tot.procs) > 1:
            busiest = sorted(tot.procs.items(), key=lambda kv: -sum(kv[1][c] for c in _BUSY))
            for pid, counts in busiest[: self.top_threads]:
                n = sum(counts.values())
                name = (procfs.read_text(f"/proc/{pid}/comm") or "").strip()
                procs.append(ProcessWaits(pid=pid, name=name, threads=round(n / win.sweeps, 1),
                                          waits={c: pct(v, n) for c, v in counts.most_common()}))
        cpu_s = win.cpu_end - win.cpu_start
        return WaitSample(
            t_start=round(win.t_start, 3), t_end=round(now, 3), pid=self.pid, sweeps=win.sweeps,
            threads=round(tot.samples / win.sweeps, 1),
            waits={c: pct(tot.classes[c]) for c in KERNEL_WAIT_CLASSES if tot.classes[c]},
            peers=peers,
            syscalls={k: pct(v) for k, v in tot.calls.most_common(TOP_NAMES)},
            wchans={k: pct(v) for k, v in tot.wchans.most_common(TOP_NAMES)},
            top_threads=top, processes=procs, unresolved_pct=pct(tot.unresolved),
            sweep_hz=round(win.sweeps / span, 2), cost_pct=round(100.0 * max(0.0, cpu_s) / span, 3),
            error=self.error,
        )

    # -- one sweep --------------------------------------------------------------------------------------------
    def _now(self) -> float:
        return time.monotonic() - self.t0

    def _identity(self) -> str | None:
        st = procfs.proc_stat_fields(self.pid)
        if st is None or len(st[1]) < 20 or st[1][0] in ("Z", "X"):
            return None
        return st[1][19]

    def _sweep(self) -> bool:
        """Read every thread once and add it to the window; False once the target is gone."""
        mono = self._now()
        if self._identity() != self._start_time or self._start_time is None:
            self._gone = True
            self.error = f"target pid {self.pid} exited"
            return False
        if self.include_children and mono - self._children_at >= CHILDREN_EVERY_S:
            self._children_at = mono
            self._pids = [self.pid, *children_of(self.pid, self._children_n % CHILDREN_ALL_EVERY == 0)]
            self._children_n += 1
        self._since_map += 1
        due = mono - self._map_at >= MAP_EVERY_S and self._since_map >= MAP_EVERY_SWEEPS
        if due or self._map_at < 0 or (self._map_stale and mono - self._map_at >= MAP_SOONEST_S):
            self._map_at, self._map_stale, self._since_map = mono, False, 0
            self._map.refresh(self._pids)
            self._epoll.clear()
            self._generation += 1
        seen: set[tuple[int, int]] = set()
        rows: list[_Row] = []
        for pid in self._pids:
            for tid in procfs.list_tids(pid):
                if tid == self._own_tid:  # sampling our own process (tests, benchmarks): not ourselves
                    continue
                key = (pid, tid)
                seen.add(key)
                row = self._read_thread(key)
                if row is not None:
                    rows.append(row)
        for key in self._handles.keys() - seen:
            self._drop(key)
        cpu_end = time.thread_time()
        with self._lock:
            win = self._window
            win.sweeps += 1
            counts = win.rows
            for row in rows:
                counts[row] = counts.get(row, 0) + 1
            win.cpu_end = cpu_end
        return True

    def _read_thread(self, key: tuple[int, int]) -> _Row | None:
        """One thread's sample; None when it ended."""
        pid, tid = key
        h = self._handles.get(key) or self._open_handle(key)
        base = f"/proc/{pid}/task/{tid}"
        try:
            # syscall first: it says "running" for a running or runnable thread, and a blocked thread whose line
            # is the same as at the last sweep (same call, same arguments) waits the same way: no more reads.
            # The memo lasts one socket-map generation (at least 1 s and 3 sweeps): the state is re-read that often.
            raw_call = _read(h.syscall, base, "syscall", 256)
            if raw_call.startswith(b"running"):
                return pid, tid, "running", "", None, (), False
            memo = (raw_call, self._generation)
            if h.memo == memo and h.row is not None:
                return h.row
            state = stat_state(_read(h.stat, base, "stat", 64))
            raw_wchan = _read(h.wchan, base, "wchan", 64)
        except OSError:  # the thread ended
            self._drop(key)
            return None
        row = self._row(pid, tid, state, raw_call, raw_wchan)
        h.memo, h.row = memo, row
        return row

    def _row(self, pid: int, tid: int, state: str, raw_call: bytes, raw_wchan: bytes) -> _Row:
        wchan = raw_wchan.decode(errors="replace").strip()
        wchan = "" if wchan == "0" else wchan.split(".", 1)[0]  # drop compiler suffixes: ".constprop.0", ".isra.0"
        parsed = parse_syscall(raw_call)
        if parsed is None:  # it woke up between the two reads
            return pid, tid, "running", "", None, (), False
        nr, args = parsed
        call = self._names.get(nr, "") if nr >= 0 else ""
        endpoints = self._endpoints(pid, call, args) if call else None
        cls, socks = classify(state, wchan, call, endpoints)
        unresolved = endpoints is None and syscalls.FD_KIND.get(call, "") in ("poll", "select", "epoll")
        return pid, tid, cls, wchan, call or (f"syscall {nr}" if nr >= 0 else ""), tuple(socks), unresolved

    def _open_handle(self, key: tuple[int, int]) -> _Handle:
        pid, tid = key
        h = _Handle(pid, tid)
        if self._open + 3 <= self._max_open:
            base = f"/proc/{pid}/task/{tid}"
            try:
                h.stat = os.open(f"{base}/stat", os.O_RDONLY | os.O_CLOEXEC)
                h.syscall = os.open(f"{base}/syscall", os.O_RDONLY | os.O_CLOEXEC)
                h.wchan = os.open(f"{base}/wchan", os.O_RDONLY | os.O_CLOEXEC)
                self._open += 3
            except OSError:
                h.close()
                h = _Handle(pid, tid)
        self._handles[key] = h
        return h

    def _drop(self, key: tuple[int, int]) -> None:
        h = self._handles.pop(key, None)
        if h is not None:
            if h.stat >= 0:
                self._open -= 3
            h.close()

    # -- which fds a call waits on ----------------------------------------------------------------------------
    def _endpoints(self, pid: int, call: str, args: tuple[int, ...]) -> list[Endpoint] | None:
        kind = syscalls.FD_KIND.get(call, "")
        if not kind or kind == "accept":
            return []
        fds: list[int] | None
        if kind == "fd":
            fds = [args[0]]
        elif kind == "poll":
            n = min(args[1], MAX_POLL_FDS)
            buf = self._peek(pid, args[0], n * 8)
            fds = decode_pollfds(buf) if buf is not None else None
        elif kind == "select":
            fds = self._select_fds(pid, args)
        else:
            fds = self._epoll_fds(pid, args[0])
        if fds is None:
            return None
        out: list[Endpoint] = []
        for fd in fds:
            e = self._map.endpoint(pid, fd)
            if e is None:  # opened since the map was built: unknown until the next one, which comes sooner
                self._map_stale = True
                e = _UNKNOWN_FD
            out.append(e)
        return out

    def _select_fds(self, pid: int, args: tuple[int, ...]) -> list[int] | None:
        nfds = min(args[0], MAX_SELECT_FDS)
        size = (nfds + 63) // 64 * 8
        fds: set[int] = set()
        for ptr in args[1:4]:
            if ptr:
                buf = self._peek(pid, ptr, size)
                if buf is None:
                    return None
                fds.update(decode_fdset(buf, nfds))
        return sorted(fds)

    def _epoll_fds(self, pid: int, epfd: int) -> list[int] | None:
        key = (pid, epfd)
        if key not in self._epoll:
            data = procfs.read_bytes(f"/proc/{pid}/fdinfo/{epfd}")
            if data is None:
                return None
            self._epoll[key] = epoll_targets(data)
        return self._epoll[key]

    def _peek(self, pid: int, addr: int, size: int) -> bytes | None:
        """SIZE bytes of PID's memory at ADDR through /proc/PID/mem; None when not allowed."""
        if size <= 0:
            return b""
        fd = self._mem.get(pid)
        if fd is None:
            try:
                fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                fd = -1
            self._mem[pid] = fd
        if fd < 0:
            return None
        try:
            return os.pread(fd, size, addr)
        except (OSError, OverflowError):
            return None
