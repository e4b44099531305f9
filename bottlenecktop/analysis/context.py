"""What every rule needs about the timeline, worked out once per analysis: the observer's CPU, the stack
window that covers each frame, whether the load was pushing the target hard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bottlenecktop.probes.samples import StackWindow
from bottlenecktop.session import Frame, Header

# The stack class a server thread sits in while it has nothing to do (an accept loop, an idle event loop, a
# handler waiting for its client's next request on a keep-alive connection).
IDLE_WAIT = "select"
# When is the target itself short of CPU (rather than the node merely busy with other processes)?
STARVED_MS = 100.0  # run delay, ms per second: below this waiting for a CPU costs the target nothing that matters
WANTS_CORE = 85.0  # % of one core: its busiest thread's CPU plus the run delay says it wanted a whole core
BUSY_THREAD = 30.0  # % of one core: a thread doing real CPU work, whose wait for a CPU delays it in turn
STARVED_SHARE = 0.25  # run delay per request as a share of the median latency
OWN_SHARE = 0.5  # the target's share of the busy CPU (the observer taken out) above which the CPU is its own


@dataclass
class Context:
    header: Header
    frames: Sequence[Frame]
    interval: float  # seconds per tick
    on_target_host: bool  # node samples describe the target's machine (not a remote target)
    times: list[float]
    observer_cores: list[float]  # the load driver's, bottlenecktop's and py-spy's CPU per frame, cores
    stacks: list[StackWindow | None]  # the target's stack window covering each frame
    pressured: list[bool | None]  # the load pushed the target past easy (None: no load in the frame)
    thread_names: dict[int, str] = field(default_factory=dict)  # tid -> the name Python gave it (from py-spy)
    # Threads on a futex at the lightest load: a pool waiting for work, there whatever the load (kernel waits).
    futex_floor: float = 0.0
    _shares: dict[int, dict[str, float]] = field(default_factory=dict)

    def ncpu(self, frame: Frame) -> int:
        if frame.node is not None and frame.node.cpu.ncpu > 0:
            return frame.node.cpu.ncpu
        return max(self.header.cpu_count, 1)

    def node_util(self, i: int) -> float | None:
        """Busy % of the CPU left to everything but the observer (driver and bottlenecktop), 0..100."""
        frame = self.frames[i]
        if frame.node is None:
            return None
        cpu = frame.node.cpu
        ncpu = self.ncpu(frame)
        cap = min(float(ncpu), cpu.quota_cores) if cpu.quota_cores else float(ncpu)
        room = cap - self.observer_cores[i]
        if room < 0.25:  # the observer took the whole box: the load-driver rule tells it
            return None
        return min(100.0, max(0.0, (cpu.busy_pct / 100 * ncpu - self.observer_cores[i]) / room * 100))

    def own_cpu_share(self, i: int) -> float | None:
        """The target's share of the node's busy CPU once the observer is taken out, 0..1 (None: not known)."""
        frame = self.frames[i]
        target, node = frame.target, frame.node
        if target is None or not target.alive or node is None:
            return None
        busy = node.cpu.busy_pct / 100 * self.ncpu(frame) - self.observer_cores[i]
        return min(1.0, target.cpu_pct / 100 / busy) if busy > 0.05 else 1.0

    def target_starved(self, i: int) -> bool:
        """The target waited for a CPU long enough to hold it back: its busy thread wanted a whole core, or the
        run delay is a real share of the time its threads spent blocked (from the stacks; else of the median
        latency per request). A target whose threads mostly block waits a little at every wake-up on a busy
        node, which is not what limits it."""
        frame = self.frames[i]
        target = frame.target
        if target is None or not target.alive or target.run_delay_ms < STARVED_MS:
            return False
        delay = target.run_delay_ms
        top = max((t.cpu_pct for t in target.threads), default=0.0)
        if top >= BUSY_THREAD and top + delay / 10 >= WANTS_CORE:  # (the delay is summed over all threads)
            return True
        window = self.target_stacks(i)
        if window is not None and top < WANTS_CORE and any(
                th.running_pct >= WANTS_CORE and th.waits.get(IDLE_WAIT, 0.0) < 50 for th in window.threads):
            return True  # a thread whose stack always shows running code got less than a core: runnable, waiting
        blocked = self.blocked_ms(window) if window is not None else 0.0
        if blocked > 0:
            # Threads that mostly block (on a lock, a socket, the disk) lose little to a late wake-up: compare the
            # time spent waiting for a CPU with the time spent blocked.
            return delay >= STARVED_SHARE * blocked
        load = frame.load
        if load is not None and load.achieved_rps > 0 and load.p50_ms > 0:
            return delay / load.achieved_rps >= STARVED_SHARE * load.p50_ms
        return delay / 10 >= 50.0  # no load to compare with: half a core's worth of waiting

    def cpu_limits_target(self, i: int, util_floor: float) -> bool:
        """The CPU is busy (``util_floor`` % of what is left to the target) and it is the target's problem: the
        target uses most of it, or is starved of it. Busy with other processes alone does not count."""
        util = self.node_util(i)
        if util is None or util < util_floor:
            return False
        own = self.own_cpu_share(i)
        return own is None or own >= OWN_SHARE or self.target_starved(i)

    def blocked_ms(self, window: StackWindow) -> float:
        """ms per second the target's working threads (idle ones left out) spent blocked, not running: the
        threads weighed by their samples against the most sampled one (a thread there all along counts 1)."""
        counted = [th.samples for th in window.threads if th.samples > 0 and th.waits.get(IDLE_WAIT, 0.0) < 50]
        if not counted:
            return 0.0
        threads = sum(counted) / max(counted)
        return threads * (1.0 - self.wait_shares(window).get("running", 0.0)) * 1000.0

    def wait_shares(self, window: StackWindow) -> dict[str, float]:
        """Share of the target's thread samples in each wait class (and "running"), 0..1.

        Threads that mostly sit in an idle wait (an accept loop) are left out: they wait by design.
        """
        key = id(window)
        cached = self._shares.get(key)
        if cached is not None:
            return cached
        total = running = 0.0
        acc: dict[str, float] = {}
        for th in window.threads:  # hundreds of threads in a thread-per-connection server: keep this lean
            n, waits = th.samples, th.waits
            if n <= 0 or waits.get(IDLE_WAIT, 0.0) >= 50:
                continue
            total += n
            running += n * th.running_pct
            for cls, pct in waits.items():
                acc[cls] = acc.get(cls, 0.0) + n * pct
        acc["running"] = running
        shares = {cls: v / (100 * total) for cls, v in acc.items()} if total > 0 else {}
        self._shares[key] = shares
        return shares

    def target_stacks(self, i: int) -> StackWindow | None:
        """The covering stack window when it belongs to the frame's target."""
        window = self.stacks[i]
        target = self.frames[i].target
        if window is None or window.error or (target is not None and window.pid != target.pid):
            return None
        return window


def observer_cores(header: Header, frame: Frame) -> float:
    """CPU of the load driver plus bottlenecktop itself in this frame, cores (both run on this box)."""
    driver = 0.0
    if frame.driver is not None and frame.driver.alive:
        driver = frame.driver.cpu_pct
    elif frame.load is not None:
        driver = frame.load.driver_cpu_pct
    own = frame.self_proc.cpu_pct if frame.self_proc is not None and frame.self_proc.alive else 0.0
    same = header.driver_pid is not None and header.driver_pid == header.self_pid
    return (max(driver, own) if same else driver + own) / 100


def cover_stacks(frames: Sequence[Frame], interval: float) -> list[StackWindow | None]:
    """For each frame, the stack window whose span holds it, else the last closed one if it is recent."""
    windows = [f.stacks for f in frames if f.stacks is not None]
    out: list[StackWindow | None] = []
    k = 0
    last: StackWindow | None = None
    for frame in frames:
        while k < len(windows) and windows[k].t_end < frame.t - 1e-6:
            last = windows[k]
            k += 1
        if k < len(windows) and windows[k].t_start < frame.t:
            out.append(windows[k])
        elif last is not None and frame.t - last.t_end <= max(last.t_end - last.t_start, interval) + interval:
            out.append(last)
        else:
            out.append(None)
    return out


def is_pressured(frame: Frame, header: Header) -> bool | None:
    """The load in this frame pushed the target: goodput behind the offer, latency up, or errors."""
    load = frame.load
    if load is None or load.offered_rps <= 0:
        return None
    errors = sum(load.errors.values())
    return (load.achieved_rps < 0.9 * load.offered_rps or load.p99_ms >= 0.5 * header.slo.p99_ms
            or (load.completed > 0 and errors / load.completed >= header.slo.error_rate))


def remote_only(header: Header, frames: Sequence[Frame]) -> bool:
    """The target's nodes are watched through exporters and no local process of it is known: this node is only
    the load generator's, and the remote nodes are judged instead (analysis/remote.py)."""
    return bool(header.remote_sources) and header.target.pid is None and all(f.target is None for f in frames)
def futex_floor(frames: Sequence[Frame]) -> float:
    """The fewest threads on a futex among the frames of the lightest third of the load (all frames without
    load): those waits are there at any load, so they are a pool idling, not requests waiting on each other."""
    seen = [(f.load.offered_rps if f.load is not None else 0.0, f.waits.threads * f.waits.waits.get("futex", 0.0) / 100)
            for f in frames if f.waits is not None and not f.waits.error and f.waits.sweeps > 0]
    if not seen:
        return 0.0
    seen.sort(key=lambda x: x[0])
    light = seen[:max(1, len(seen) // 3)]
    return min(n for _, n in light)


def build_context(header: Header, frames: Sequence[Frame]) -> Context:
    interval = header.interval if header.interval > 0 else 1.0
    stacks = cover_stacks(frames, interval)
    return Context(
        header=header,
        frames=frames,
        interval=interval,
        on_target_host=header.target.local and not remote_only(header, frames),
        times=[f.t for f in frames],
        # py-spy is part of the observer too: its CPU is in the node's busy time, not the target's
        observer_cores=[observer_cores(header, f) + (w.spy_cpu_pct / 100 if w is not None else 0.0)
                        for f, w in zip(frames, stacks, strict=True)],
        stacks=stacks,
        thread_names={th.tid: th.name for w in stacks if w is not None for th in w.threads if th.name},
        pressured=[is_pressured(f, header) for f in frames],
        futex_floor=futex_floor(frames),
    )
