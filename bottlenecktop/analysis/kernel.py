"""What the kernel says about the target in one frame: its threads' wait states (Frame.waits), the requests in
progress on its listening ports and outstanding to each downstream (Frame.peers, tcp_info), its cgroup, and the
local processes behind its downstream peers (Frame.peer_procs). The rules read these through here, so that a
missing or failed probe reads as "not known" everywhere in the same way."""

from __future__ import annotations

from dataclasses import dataclass

from bottlenecktop.probes.samples import CgroupSample, PeersSample, ProcSample, WaitSample
from bottlenecktop.session import Frame


@dataclass(frozen=True, slots=True)
class PeerLoad:
    """One downstream address and how much of the target's work waits on it in a frame."""

    peer: str  # "127.0.0.1:5432"
    threads: float  # the target's threads blocked on sockets to it (kernel waits), mean per sweep
    outstanding: float  # requests sent to it and not answered yet (tcp_info)
    sockets: int  # connections to it
    pid: int | None  # the local process listening there
    process: str  # its name

    @property
    def waiting(self) -> float:
        """Calls in flight to the peer: blocked threads (a thread per call) or unanswered requests (an event
        loop's), whichever the kernel shows more of."""
        return max(self.threads, self.outstanding)


def waits_of(frame: Frame) -> WaitSample | None:
    """The frame's kernel wait states when they describe its target (swept at least once, no error)."""
    w = frame.waits
    if w is None or w.error or w.sweeps <= 0 or w.threads <= 0:
        return None
    if frame.target is not None and w.pid and w.pid != frame.target.pid:
        return None
    return w


def peers_of(frame: Frame) -> PeersSample | None:
    p = frame.peers
    return None if p is None or p.error else p


def cgroup_of(frame: Frame) -> CgroupSample | None:
    c = frame.cgroup
    return None if c is None or c.error else c


def has_kernel_view(frame: Frame) -> bool:
    """The kernel probes saw this frame's target: its verdict on waits overrides the Python stacks'."""
    return waits_of(frame) is not None or peers_of(frame) is not None


def threads_in(w: WaitSample, cls: str) -> float:
    """Mean number of the target's threads in the kernel wait class ``cls`` per sweep."""
    return w.threads * w.waits.get(cls, 0.0) / 100


def working_threads(w: WaitSample, idle_futex: float = 0.0) -> float:
    """Threads serving a request: running, on a futex, on the disk, asleep (a handler's own wait), or blocked on
    a downstream. Left out: those idle by design (accepting, in an epoll over a listener, in "other" waits) and
    those waiting for their client's next request on a keep-alive connection (a socket to a client), and
    ``idle_futex`` threads on a futex that are a pool waiting for work."""
    idle = w.waits.get("idle", 0.0) + w.waits.get("other", 0.0)
    clients = sum(p.pct for p in w.peers if p.role == "client")
    pool = min(idle_futex, threads_in(w, "futex"))
    return max(0.0, w.threads * max(0.0, 100 - idle - clients) / 100 - pool)


def in_progress(frame: Frame) -> int | None:
    """Requests being served by the target: received on its listening ports and not yet answered (tcp_info, a
    snapshot at the tick's end), or in flight from the load driver, whichever is more (the snapshot misses
    requests that arrive and leave between two ticks)."""
    p = peers_of(frame)
    if p is None or not p.listeners:
        return None
    here = sum(x.in_progress for x in p.listeners)
    return max(here, frame.load.in_flight) if frame.load is not None else here


def downstream_loads(frame: Frame) -> list[PeerLoad]:
    """Every downstream address of the frame, the most waited on first."""
    w, p = waits_of(frame), peers_of(frame)
    threads: dict[str, float] = {}
    if w is not None:
        for pw in w.peers:
            if pw.role == "downstream":
                threads[pw.peer] = threads.get(pw.peer, 0.0) + pw.threads
    out = []
    if p is not None:
        for d in p.downstream:
            out.append(PeerLoad(d.peer, threads.pop(d.peer, 0.0), float(d.outstanding), d.sockets, d.pid, d.process))
    out.extend(PeerLoad(peer, n, 0.0, 0, None, "") for peer, n in threads.items())
    if len(out) > 1:
        out.sort(key=lambda x: (-x.waiting, -x.sockets, x.peer))
    return out


def peer_proc(frame: Frame, pid: int | None) -> ProcSample | None:
    """The sample of the local process ``pid`` behind a downstream peer, when the tick loop probed it."""
    if pid is None:
        return None
    return next((s for s in frame.peer_procs if s.pid == pid and s.alive), None)
