"""The kernel wait sampler: what each thread of the target (and its children) waits on, a few rounds a second.

A read of one thread takes /proc/PID/task/TID/syscall (the blocked call and its arguments, or "running"), and
when that line changed since the thread's last read its ``stat`` (the scheduler state: D is disk) and ``wchan``,
through files kept open and re-read with ``os.pread``. The fds a blocked call waits on are resolved to sockets
and their peers (probes/sockmap.py): read/recv/send take the fd from the arguments, poll and select arrays are
read through /proc/PID/mem, epoll sets from /proc/PID/fdinfo/EPFD.

The cost stays within ``budget_pct`` of one core at any thread count (issue 28):

- A round does not read every thread. Each thread is read once per interval of P rounds, at a random round of
  that interval, and its read weighs P: it stands for the P rounds (stratified sampling in time, so every share
  stays unbiased, per window, per thread and per process). P is decided before the interval starts: 1 after a
  read that saw the thread running or in a different call than the read before (it moves: read it every round),
  doubled after a read that saw the same call again (a sleeping or parked thread), up to a cap. The cap is as
  small as the budget allows: with a few hundred threads every thread is read every round, with 10,000 a parked
  thread is read every ``MAX_PERIOD`` rounds. See ``Calendar``.
- The housekeeping that grows with the thread count (listing the tids, the socket map, the children scan) runs
  only as often as its measured cost allows within its share of the budget.
- As a last resort (thousands of threads that all move), the pause between rounds stretches.

``take()`` runs on the tick loop's thread and must never delay it: the sampler thread adds each read to the
window's running totals as it goes (in chunks, under a lock held for one chunk at most), so ``take()`` only swaps
the window and formats totals whose size does not depend on the thread count.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import random
import resource
import select
import threading
import time
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
from bottlenecktop.probes.wait_schedule import MAX_PERIOD, Calendar, Pace, moving_period, period_cap

BUDGET_PCT = 1.5  # of one core, whatever the thread count; the ceiling is 2 %
MAX_HZ = 5.0  # a few rounds a second are enough over a 1 s tick and a 5 s window
# A round at least this often, so that every 1 s tick has one: the debt of the first pass over a large target is
# paid back by cheaper rounds, not by a gap (a round is bounded: see moving_period)
MAX_PAUSE_S = 0.8
BURST_S = 2.0  # seconds of budget a costly round may draw on at once
# A new thread is first read within this many rounds (about 1.6 s), even when parked threads wait up to
# MAX_PERIOD: a busy thread among 10,000 is found in seconds. The first pass at attach costs more than the budget
# for those rounds; the pause between rounds pays it back.
FIRST_PERIOD = 8
READ_SHARE = 0.5  # of the budget for the thread reads; the paced housekeeping below shares the rest
READ_COST_S = 15e-6  # first guess of one thread read's CPU, until measured
MEMO_READS = 16  # reads of an unchanged line served from the memo before the state is read again
CHUNK = 64  # reads added to the window per lock hold; a longer round also sleeps a little between chunks
CHUNK_PAUSE_S = 0.001
# The fd -> socket map is rebuilt every MAP_EVERY_S and at most every MAP_EVERY_SWEEPS rounds (sooner when a
# thread waits on an unknown fd), and never more often than its cost allows within MAP_SHARE of the budget. Each
# rebuild also ends the memo of unchanged samples, so the scheduler state of a blocked thread is re-read then.
MAP_EVERY_S = 1.0
MAP_EVERY_SWEEPS = 3
MAP_SOONEST_S = 0.25
MAP_SHARE = 0.25
LIST_SHARE = 0.15  # listing /proc/PID/task: every round for a small target, about every 1.5 s for 10,000 threads
CHILDREN_EVERY_S = 2.0  # main threads' children this often (peers.py: every thread's, CHILDREN_ALL_EVERY-th time)
CHILDREN_ALL_EVERY = 5
CHILDREN_CHUNK = 128  # other threads' children files read per children refresh, in rotation
CHILDREN_SHARE = 0.1
TOP_THREADS = 8
TOP_PEERS = 8
TOP_NAMES = 6
_BUSY = ("running", "futex", "socket", "disk")  # the classes that rank a thread among the top threads


# (pid, tid, wait class, wchan, syscall name, the sockets waited on, fd set unreadable) of one thread sample
_Row = tuple[int, int, str, str, str | None, tuple[Endpoint, ...], bool]
_Key = tuple[int, int]


_UNKNOWN_FD = Endpoint("other", "other", "")


@dataclass
class _Handle:
    """One thread's open files and memo. fds are -1 until opened or past the open-file cap (then read by
    open/read): syscall is read at every read and kept open first; stat and wchan are read only when the line
    changed, so they are kept open only for a thread that changes calls (the second such read on)."""

    pid: int
    tid: int
    stat: int = -1
    syscall: int = -1
    wchan: int = -1
    line: bytes = b""  # the syscall line of its last read: the same line again is a parked thread
    memo: bytes = b""  # the syscall line the scheduler state and wchan below were read with
    state: str = ""
    raw_wchan: bytes = b""
    hits: int = 0  # reads served from the memo since the state was read
    misses: int = 0  # reads that found a new call (not the first read, not a memo that expired)
    generation: int = -1  # socket map generation of row
    fd_wait: bool = False  # row depends on the socket map (a call that waits on fds)
    row: _Row | None = None

    def fds(self) -> int:
        return (self.stat >= 0) + (self.syscall >= 0) + (self.wchan >= 0)

    def close(self) -> None:
        for fd in (self.stat, self.syscall, self.wchan):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.stat = self.syscall = self.wchan = -1


@dataclass
class _ThreadTally:
    pid: int
    samples: float = 0.0
    # reads (not weighted) that saw it in _BUSY, a running one counting twice: the top threads are ranked by it,
    # so a thread that keeps moving (read every round) ranks before a parked one whose one read stands for many
    # rounds, and a running thread before a blocked one seen as often
    busy: int = 0
    classes: dict[str, float] = field(default_factory=dict)
    calls: dict[str, float] = field(default_factory=dict)
    wchans: dict[str, float] = field(default_factory=dict)
    peers: dict[str, float] = field(default_factory=dict)


@dataclass
class _Window:
    """What the reads since the last take() saw, summed as they come (weighted: see Calendar)."""

    t_start: float
    cpu_start: float  # the sampler thread's CPU clock (time.thread_time) at the window's start, seconds
    cpu_end: float = 0.0  # and at its last round
    sweeps: float = 0.0  # rounds; a round split by a take() counts in each window by its share of reads
    threads_n: float = 0.0  # the listed thread count summed over the rounds (by the same shares)
    procs_n: dict[int, float] = field(default_factory=dict)  # and per process
    samples: float = 0.0
    unresolved: float = 0.0
    classes: dict[str, float] = field(default_factory=dict)
    calls: dict[str, float] = field(default_factory=dict)
    wchans: dict[str, float] = field(default_factory=dict)
    peers: dict[tuple[str, str], float] = field(default_factory=dict)  # (peer, role) -> thread-samples
    threads: dict[_Key, _ThreadTally] = field(default_factory=dict)
    procs: dict[int, dict[str, float]] = field(default_factory=dict)
    top: set[_Key] = field(default_factory=set)  # the busiest threads so far, kept as reads come
    top_floor: int = 0  # a lower bound of the least busy count in top (exact after each replacement)


def _bump(d: dict[str, float], k: str, w: float) -> None:
    d[k] = d.get(k, 0.0) + w


def _largest(d: dict[str, float], n: int) -> list[tuple[str, float]]:
    return heapq.nlargest(n, d.items(), key=lambda kv: kv[1])


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
                 include_children: bool = True, machine: str | None = None, top_threads: int = TOP_THREADS,
                 max_period: int = MAX_PERIOD, seed: int | None = None) -> None:
        self.pid = pid
        self.t0 = t0
        self.budget_pct = budget_pct
        self.max_hz = max_hz
        self.include_children = include_children
        self.top_threads = top_threads
        self.max_period = max(1, max_period)
        self.error = ""
        self._names = syscalls.table(machine)
        self._start_time = self._identity()
        self._pids: list[int] = [pid]
        self._cal: Calendar[_Key] = Calendar(random.Random(seed))
        self._cap = 1
        self._moving = 1
        self._read_cost = READ_COST_S  # smoothed CPU seconds per thread read
        self._handles: dict[_Key, _Handle] = {}
        self._mem: dict[int, int] = {}  # pid -> fd of /proc/PID/mem, -1 when denied
        self._epoll: dict[tuple[int, int], list[int]] = {}  # (pid, epfd) -> registered fds, since the last map
        self._map = SocketMap()
        self._map_at = -1e9
        self._since_map = 0  # rounds since the map was rebuilt
        self._map_stale = False
        self._map_pace = Pace(MAP_SHARE)
        self._list_pace = Pace(LIST_SHARE)
        self._children_pace = Pace(CHILDREN_SHARE, every_s=CHILDREN_EVERY_S)
        self._counts: dict[int, int] = {}  # pid -> its threads in the calendar
        self._listings: dict[int, list[str]] = {}  # pid -> the names in /proc/PID/task at the last listing
        self._others: list[_Key] = []  # the threads that are not a main thread, for the children scan
        self._others_at = 0  # where the rotating children scan goes on
        self._forks: dict[_Key, list[int]] = {}  # children of non-main threads, as last read
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
        self._exit_poll: select.poll | None = None  # a pidfd of the target: readable once it exits
        self._pidfd = -1

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
        if self._start_time is not None:
            # /proc/PID/stat of a process sums over all its threads: with 10,000 of them that is not a check to
            # make every round. A pidfd says the same (this very process has exited) for one poll.
            try:
                self._pidfd = os.pidfd_open(self.pid)
                self._exit_poll = select.poll()
                self._exit_poll.register(self._pidfd, select.POLLIN)
            except (OSError, AttributeError):
                self._exit_poll = None
        with self._lock:
            self._window.cpu_start = time.thread_time()
        # A CPU credit that fills at the budget's rate (up to BURST_S of it): an occasional costly round (a socket
        # map rebuild) is paid from it, and only a sustained excess (thousands of threads that all move, so no
        # period to stretch) makes the pause between rounds longer than 1 / max_hz.
        budget = self._budget()
        credit = BURST_S * budget
        last = time.monotonic()
        while not self._stop.is_set():
            w0, c0 = time.monotonic(), time.thread_time()
            try:
                alive = self._sweep()
            except Exception as exc:  # never let a surprise in /proc end the run; say it once a window
                self.error = f"wait sampler: {type(exc).__name__}: {exc}"
                alive = True
            if not alive:
                break
            now = time.monotonic()
            credit = min(BURST_S * budget, credit + budget * (now - last)) - (time.thread_time() - c0)
            last = now
            pause = max(1.0 / self.max_hz - (now - w0), -credit / budget)
            self._stop.wait(min(MAX_PAUSE_S, max(0.0, pause)))
        self._close_all()

    def _close_all(self) -> None:
        if self._pidfd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd, self._exit_poll = -1, None
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
        """The aggregate of the rounds since the previous call; None when there were none (the target exited
        earlier, or no round ran yet). Runs on the caller's thread; never raises, never waits on a round: the
        lock is held by the sampler for one chunk of reads at most, and the work here does not grow with the
        thread count (TOP_* entries and a few /proc/.../comm reads)."""
        now = self._now() if t_end is None else t_end
        with self._lock:
            win = self._window
            self._window = _Window(t_start=now, cpu_start=win.cpu_end if win.sweeps else win.cpu_start)
        if win.sweeps <= 0:
            if self._gone and not self._said_gone:
                self._said_gone = True
                return WaitSample(t_start=round(win.t_start, 3), t_end=round(now, 3), pid=self.pid,
                                  error=self.error or f"target pid {self.pid} exited")
            return None
        return self._summarise(win, now)

    def _add(self, win: _Window, row: _Row, w: float) -> None:
        """Add one read of weight W to the window's totals (under the lock)."""
        pid, tid, cls, wchan, call, socks, unresolved = row
        key = (pid, tid)
        win.samples += w
        _bump(win.classes, cls, w)
        tally = win.threads.get(key)
        if tally is None:
            tally = win.threads[key] = _ThreadTally(pid=pid)
        tally.samples += w
        _bump(tally.classes, cls, w)
        counts = win.procs.get(pid)
        if counts is None:
            counts = win.procs[pid] = {}
        _bump(counts, cls, w)
        if call:
            _bump(win.calls, call, w)
            _bump(tally.calls, call, w)
        if wchan:
            _bump(win.wchans, wchan, w)
            _bump(tally.wchans, wchan, w)
        if unresolved:
            win.unresolved += w
        if socks:
            share = w / len(socks)  # a thread waiting on N sockets waits 1/N on each
            for e in socks:
                pk = (e.peer, e.role)
                win.peers[pk] = win.peers.get(pk, 0.0) + share
                tally.peers[e.peer] = tally.peers.get(e.peer, 0.0) + share
        if cls in _BUSY:
            tally.busy += 2 if cls == "running" else 1
            self._rank(win, key, tally)

    def _rank(self, win: _Window, key: _Key, tally: _ThreadTally) -> None:
        """Keep win.top the top_threads busiest threads. Busy counts only grow within a window, so a thread
        outside the set can only enter it by passing the set's least busy one: the set stays exact."""
        top = win.top
        if key in top:
            return
        if len(top) < self.top_threads:
            top.add(key)
            return
        if not top or tally.busy <= win.top_floor:  # the common case: one look, no scan of the set
            return
        low = min(top, key=lambda k: win.threads[k].busy)
        if win.threads[low].busy < tally.busy:
            top.discard(low)
            top.add(key)
        win.top_floor = min(win.threads[k].busy for k in top)

    def _summarise(self, win: _Window, now: float) -> WaitSample:
        total = max(1e-9, win.samples)
        sweeps = max(1e-9, win.sweeps)
        span = max(1e-6, now - win.t_start)
        # Thread counts are the listed count times a share (a ratio of weighted reads): steadier than the
        # weighted reads per round when parked threads are read rarely.
        threads = win.threads_n / sweeps
        per_thread = threads / total

        def pct(n: float, of: float = total) -> float:
            return round(100.0 * n / of, 1) if of > 0 else 0.0

        by_time = heapq.nlargest(TOP_PEERS, win.peers.items(), key=lambda kv: kv[1])
        peers = [PeerWait(peer=peer, role=role, threads=round(n * per_thread, 2), pct=pct(n))  # type: ignore[arg-type]
                 for (peer, role), n in by_time]
        ranked = sorted(win.top, key=lambda k: -win.threads[k].busy)
        for key in win.threads:  # idle threads fill what the busy ones leave, first seen first
            if len(ranked) >= self.top_threads:
                break
            if key not in win.top:
                ranked.append(key)
        top: list[ThreadWait] = []
        for pid, tid in ranked[: self.top_threads]:
            tally = win.threads[(pid, tid)]
            comm = (procfs.read_text(f"/proc/{pid}/task/{tid}/comm") or "").strip()
            top.append(ThreadWait(
                tid=tid, pid=pid, name=comm, samples=round(tally.samples),
                waits={c: pct(n, tally.samples) for c, n in _largest(tally.classes, len(tally.classes))},
                syscall=max(tally.calls, key=tally.calls.__getitem__) if tally.calls else "",
                wchan=max(tally.wchans, key=tally.wchans.__getitem__) if tally.wchans else "",
                peer=max(tally.peers, key=tally.peers.__getitem__) if tally.peers else "",
            ))
        procs: list[ProcessWaits] = []
        if len(win.procs) > 1:
            busiest = heapq.nlargest(self.top_threads, win.procs.items(),
                                     key=lambda kv: sum(kv[1].get(c, 0.0) for c in _BUSY))
            for pid, counts in busiest:
                n = sum(counts.values())
                name = (procfs.read_text(f"/proc/{pid}/comm") or "").strip()
                listed = win.procs_n.get(pid)
                procs.append(ProcessWaits(pid=pid, name=name,
                                          threads=round(listed / sweeps if listed else n * per_thread, 1),
                                          waits={c: pct(v, n) for c, v in _largest(counts, len(counts))}))
        cpu_s = win.cpu_end - win.cpu_start
        return WaitSample(
            t_start=round(win.t_start, 3), t_end=round(now, 3), pid=self.pid, sweeps=max(1, round(win.sweeps)),
            threads=round(threads, 1),
            waits={c: pct(win.classes[c]) for c in KERNEL_WAIT_CLASSES if win.classes.get(c)},
            peers=peers,
            syscalls={k: pct(v) for k, v in _largest(win.calls, TOP_NAMES)},
            wchans={k: pct(v) for k, v in _largest(win.wchans, TOP_NAMES)},
            top_threads=top, processes=procs, unresolved_pct=pct(win.unresolved),
            sweep_hz=round(win.sweeps / span, 2), cost_pct=round(100.0 * max(0.0, cpu_s) / span, 3),
            error=self.error,
        )

    # -- one round --------------------------------------------------------------------------------------------
    def _now(self) -> float:
        return time.monotonic() - self.t0

    def _identity(self) -> str | None:
        st = procfs.proc_stat_fields(self.pid)
        if st is None or len(st[1]) < 20 or st[1][0] in ("Z", "X"):
            return None
        return st[1][19]

    def _exited(self) -> bool:
        if self._start_time is None:
            return True
        if self._exit_poll is not None:
            return bool(self._exit_poll.poll(0))
        return self._identity() != self._start_time

    def _budget(self) -> float:
        return self.budget_pct / 100.0

    def _sweep(self) -> bool:
        """One round: the housekeeping that is due, then the threads the calendar says; False once the target
        is gone."""
        mono = self._now()
        if self._exited():
            self._gone = True
            self.error = f"target pid {self.pid} exited"
            return False
        budget = self._budget()
        listed = False
        if self.include_children and self._children_pace.due(mono, budget):
            c0 = time.thread_time()
            pids = [self.pid, *self._children()]
            self._children_pace.ran(mono, time.thread_time() - c0)
            if pids != self._pids:
                self._pids = pids
                listed = self._list_threads(mono)
        if not listed and self._list_pace.due(mono, budget):
            self._list_threads(mono)
        self._since_map += 1
        due = mono - self._map_at >= MAP_EVERY_S and self._since_map >= MAP_EVERY_SWEEPS
        if (self._map_at < 0 or ((due or (self._map_stale and mono - self._map_at >= MAP_SOONEST_S))
                                 and self._map_pace.due(mono, budget))):
            c0 = time.thread_time()
            self._map_at, self._map_stale, self._since_map = mono, False, 0
            self._map.refresh(self._pids)
            self._epoll.clear()
            self._generation += 1
            self._map_pace.ran(mono, time.thread_time() - c0)
        self._cap = self._period_cap(len(self._cal))
        self._moving = moving_period(self._cal.hot, self._per_round(), self.max_period)
        batch = self._cal.advance()
        r0 = time.thread_time()
        pending: list[tuple[_Row, int]] = []
        done = 0
        for key, weight in batch:
            row = self._read_thread(key)
            if row is not None:
                pending.append((row, weight))
            if len(pending) >= CHUNK:
                done += len(pending)
                self._merge(pending, len(batch), end=False)
                pending = []
                self._stop.wait(CHUNK_PAUSE_S)  # a long round lets the tick loop's thread have the GIL
        if batch:
            per_read = (time.thread_time() - r0) / len(batch)
            self._read_cost = 0.8 * self._read_cost + 0.2 * per_read
        self._merge(pending, len(batch), end=True, rest=max(0, len(batch) - done - len(pending)))
        return True

    def _period_cap(self, threads: int) -> int:
        """How rarely parked threads must be read for a round at the full rate to stay within the reads'
        share of the budget, at the measured cost of a read."""
        return period_cap(threads, self._cal.hot, self._per_round(), self.max_period)

    def _per_round(self) -> float:
        return READ_SHARE * self._budget() / (self.max_hz * max(1e-7, self._read_cost))

    def _merge(self, rows: list[tuple[_Row, int]], of: int, *, end: bool, rest: int = 0) -> None:
        """Add ROWS (of a round of OF reads) to the current window; the window counts the round by the share of
        its reads it got (REST: reads of the round that found their thread gone, counted with the last chunk)."""
        cpu_end = time.thread_time() if end else 0.0
        with self._lock:
            win = self._window
            for row, weight in rows:
                self._add(win, row, weight)
            part = (len(rows) + rest) / of if of else 1.0  # a round with no thread due counts whole
            win.sweeps += part
            win.threads_n += part * len(self._cal)
            for pid, n in self._counts.items():
                win.procs_n[pid] = win.procs_n.get(pid, 0.0) + part * n
            if end:
                win.cpu_end = cpu_end

    def _list_threads(self, mono: float) -> bool:
        """Sync the calendar with /proc/PID/task of each process: new threads in, ended ones out."""
        c0 = time.thread_time()
        listings: dict[int, list[str]] = {}
        for pid in self._pids:
            try:
                listings[pid] = os.listdir(f"/proc/{pid}/task")
            except OSError:
                listings[pid] = []
        if listings == self._listings:  # the same threads as last time (compared in C): nothing to sync
            self._list_pace.ran(mono, time.thread_time() - c0)
            return True
        self._listings = listings
        current: set[_Key] = set()
        others: list[_Key] = []
        own = self._own_tid
        for pid, names in listings.items():
            for tid in map(int, names):
                if tid == own:  # sampling our own process (tests, benchmarks): not ourselves
                    continue
                current.add((pid, tid))
                if tid != pid:
                    others.append((pid, tid))
        cal = self._cal
        # a new thread's first read lands anywhere within the first rounds (10,000 threads found at once are
        # spread over them, not read in one)
        self._cap = self._period_cap(len(current))
        first = min(self._cap, FIRST_PERIOD)
        for key in current:
            if key not in cal:
                cal.add(key, first)
        for key in [k for k in cal if k not in current]:
            self._drop(key)
        self._others = others
        counts: dict[int, int] = {}
        for pid, _tid in current:
            counts[pid] = counts.get(pid, 0) + 1
        self._counts = counts
        self._list_pace.ran(mono, time.thread_time() - c0)
        return True

    def _children(self) -> list[int]:
        """Descendants of the target: every process's main thread each time, other threads' children files in
        rotation (CHILDREN_CHUNK per call), so the scan costs the same with 10 threads or 10,000."""
        n = len(self._others)
        if n:
            start = self._others_at % n
            chunk = self._others[start:start + CHILDREN_CHUNK]
            if len(chunk) < CHILDREN_CHUNK:
                chunk += self._others[: min(start, CHILDREN_CHUNK - len(chunk))]
            self._others_at = start + len(chunk)
            for pid, tid in chunk:
                text = procfs.read_text(f"/proc/{pid}/task/{tid}/children")
                kids = [int(k) for k in text.split()] if text else []
                if kids:
                    self._forks[(pid, tid)] = kids
                else:
                    self._forks.pop((pid, tid), None)
        out: list[int] = []
        seen = {self.pid}
        todo = [self.pid, *(k for kids in self._forks.values() for k in kids)]
        for _ in range(10_000):  # bounded: a process tree is finite, a pid can recur only through reuse
            if not todo:
                break
            p = todo.pop()
            if p not in seen:
                seen.add(p)
                if not os.path.exists(f"/proc/{p}"):
                    continue
                out.append(p)
            text = procfs.read_text(f"/proc/{p}/task/{p}/children") or ""
            todo.extend(int(k) for k in text.split() if int(k) not in seen)
        return out

    def _read_thread(self, key: _Key) -> _Row | None:
        """One thread's sample, and its next read scheduled; None when it ended."""
        pid, tid = key
        h = self._handles.get(key) or self._open_handle(key)
        base = f"/proc/{pid}/task/{tid}"
        try:
            # syscall first: it says "running" for a running or runnable thread, and a blocked thread whose line
            # is the same as when its state was read (same call, same arguments) waits the same way: no more
            # reads. The state is re-read every MEMO_READS such reads all the same (D comes and goes in a call).
            raw_call = _read(h.syscall, base, "syscall", 256)
            if raw_call.startswith(b"running"):
                h.line = b"running"
                self._cal.reschedule(key, False, self._cap, self._moving)
                return pid, tid, "running", "", None, (), False
            # the first read (no line yet) of a parked thread: it is not assumed to move
            first = not h.line
            stable = raw_call == h.line or first
            h.line = raw_call
            if h.memo == raw_call and h.hits < MEMO_READS and h.row is not None:
                h.hits += 1
                row = h.row
                if h.fd_wait and h.generation != self._generation:  # same call, new socket map: its fds again
                    row = h.row = self._row(pid, tid, h.state, raw_call, h.raw_wchan)
                    h.generation = self._generation
                self._cal.reschedule(key, stable, self._cap, self._moving, first)
                return row
            if h.memo and h.memo != raw_call:  # it changes calls: worth two more fds while there is room
                h.misses += 1
                if h.misses == 2 and h.stat < 0 and self._open + 2 <= self._max_open:
                    self._open_state_files(h, base)
            state = stat_state(_read(h.stat, base, "stat", 64))
            raw_wchan = _read(h.wchan, base, "wchan", 64)
        except OSError:  # the thread ended
            self._drop(key)
            return None
        row = self._row(pid, tid, state, raw_call, raw_wchan)
        # only a sleep is kept: R (it woke between the reads) and D (an fsync, a page fault) pass, even in a call
        # whose line stays the same from one to the next
        memo = raw_call if state in ("S", "I") else b""
        h.memo, h.state, h.raw_wchan, h.hits, h.row, h.generation = memo, state, raw_wchan, 0, row, self._generation
        h.fd_wait = syscalls.FD_KIND.get(row[4] or "", "") not in ("", "accept")
        self._cal.reschedule(key, stable, self._cap, self._moving, first)
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

    def _open_handle(self, key: _Key) -> _Handle:
        pid, tid = key
        h = _Handle(pid, tid)
        if self._open < self._max_open:
            with contextlib.suppress(OSError):
                h.syscall = os.open(f"/proc/{pid}/task/{tid}/syscall", os.O_RDONLY | os.O_CLOEXEC)
                self._open += 1
        self._handles[key] = h
        return h

    def _open_state_files(self, h: _Handle, base: str) -> None:
        try:
            h.stat = os.open(f"{base}/stat", os.O_RDONLY | os.O_CLOEXEC)
            h.wchan = os.open(f"{base}/wchan", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            for fd in (h.stat, h.wchan):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            h.stat = h.wchan = -1
            return
        self._open += 2

    def _drop(self, key: _Key) -> None:
        self._listings = {}  # the next listing syncs again (and brings the thread back if it is still there)
        self._cal.remove(key)
        self._forks.pop(key, None)
        h = self._handles.pop(key, None)
        if h is not None:
            self._open -= h.fds()
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
