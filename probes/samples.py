"""What the probes measure: one typed record per probe per tick.

These Structs are the contract between the probes (producers), the session timeline, the recording, the
analysis and the screen (consumers). Every field has a default so that a recording written by an older
version still decodes; add fields, never change a field's meaning. Rates are per second over the last tick,
percentages are 0..100 (of one core for per-thread and per-process CPU, of the whole node for node CPU),
times are seconds on the session clock (``time.monotonic() - t0``) unless the name says ``_ms``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

# The parts of a ramp a step belongs to, and what the driver is doing in a second (a person can pause or hold).
StepPhase = Literal["ramping", "searching", "confirming"]
LoadPhase = Literal["ramping", "searching", "confirming", "holding", "paused", "done"]
# Why a step was not sustained (the first test it failed; "" when it was).
StepFailure = Literal["", "errors", "driver", "p99", "achieved", "no requests"]
# What ended a ramp: a step's failure, a limit of the ramp itself, a person or the clock, or the driver failing.
RampEndReason = Literal[
    "", "errors", "driver", "p99", "achieved", "no requests",  # StepFailure: the target (or driver) hit a limit
    "max-rps", "max-connections", "plateau",  # the ramp's own ceiling (open, closed model), or throughput flat
    "stopped", "max-time",  # a person, or --max-time
    "driver-exited", "driver-error", "bad-target",  # the driver could not go on
    "driver-not-started",  # the driver's process died before it sent a request
    "agent-lost",  # several load agents: every agent was lost (one lost agent reruns its step with the others)
]

# Error classes counted by the load driver; analysis and the screen use these names.
ERROR_CLASSES = ("http_4xx", "http_5xx", "timeout", "refused", "reset", "other")

# Where a thread that is not running waits, as classified from its Python stack.
WAIT_CLASSES = ("lock", "socket", "client", "disk", "sleep", "select", "other")


class AgentFigures(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One load agent's share of an interval (several agents, probes/load/cluster), or of a whole ramp."""

    agent: int  # its number, 0..N-1, in the order the agents were started
    host: str = ""
    pid: int = 0  # its driver process, on its host
    offered_rps: float = 0.0  # its stripe of the schedule
    achieved_rps: float = 0.0
    sent: int = 0
    ok: int = 0
    cpu_pct: float = 0.0  # its driver process, % of one core (a ramp's: the peak second)
    lag_p99_ms: float = 0.0  # (a ramp's: the peak second)
    late: int = 0  # requests it could not send on time
    lost: bool = False  # it stopped answering (a ramp: at some point)
    connections: int = 0  # its open connections (an interval's)
    max_connections: int = 0  # its cap on them


class LoadSecond(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One interval (about a second) of the load driver's measurements."""

    t: float  # end of the interval, session clock seconds
    dt: float = 1.0  # interval length, seconds
    phase: LoadPhase = "ramping"
    step: int = 0  # index of the ramp step this interval belongs to
    target_rps: float = 0.0  # the rate the schedule asks for now
    offered_rps: float = 0.0  # requests whose intended send time fell in the interval, per second
    sent: int = 0  # requests actually written in the interval
    completed: int = 0  # responses (any status) plus errors finished in the interval
    ok: int = 0  # responses with status < 400
    in_flight: int = 0  # outstanding at the end of the interval
    errors: dict[str, int] = {}  # ERROR_CLASSES -> count in the interval
    achieved_rps: float = 0.0  # ok responses per second
    p50_ms: float = 0.0  # latency from the intended send time (no coordinated omission)
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    max_ms: float = 0.0
    service_p99_ms: float = 0.0  # latency from the actual send time
    bytes_in: int = 0
    hist: str = ""  # the interval's latency histogram, HdrHistogram base64 encoding (mergeable)
    driver_cpu_pct: float = 0.0  # the driver process's CPU, % of one core
    lag_p99_ms: float = 0.0  # how late requests left against their intended time
    late: int = 0  # requests that could not be sent on time (lag over the late threshold)
    connections: int = 0  # open connections
    max_connections: int = 0  # the driver's cap on open connections (0: not reported)
    connects: int = 0  # connections opened in the interval
    queued: int = 0  # requests waiting for a free connection at the end of the interval
    waited: int = 0  # requests sent in the interval after waiting for a connection (latency still from intended)
    conn_late: int = 0  # ... of them, waited over the late threshold: every connection up to the cap was busy
    wait_p99_ms: float = 0.0  # how long those requests waited for a connection, from their intended time
    # Several load agents: each agent's figures (the fields above merge them: counts summed, histograms merged,
    # driver_cpu_pct and lag the busiest agent's).
    agents: list[AgentFigures] = []


class StepResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One finished ramp step (or search probe, or confirmation hold)."""

    step: int
    phase: StepPhase
    t_start: float
    t_end: float
    offered_rps: float
    achieved_rps: float
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    max_ms: float = 0.0
    error_rate: float = 0.0  # errors / completed, 0..1
    errors: dict[str, int] = {}
    sustained: bool = True
    reason: StepFailure = ""  # why not sustained
    driver_cpu_pct: float = 0.0
    lag_p99_ms: float = 0.0
    late: int = 0


class RampOutcome(msgspec.Struct, kw_only=True, omit_defaults=True):
    """How the ramp ended: the confirmed magic number, or why there is none."""

    t: float  # session clock seconds
    max_sustainable_rps: float | None = None  # the confirmed rate; None when no step was sustained
    p99_ms: float | None = None  # at that rate
    error_rate: float | None = None
    confirmed: bool = False  # held for the confirmation window and sustained
    driver_limited: bool = False  # the driver, not the target, was the limit: the rate is a lower bound
    reason: RampEndReason = ""  # what ended the ramp
    why: str = ""  # a driver that died: the last line it wrote to its stderr
    agents: list[AgentFigures] = []  # several load agents: each one's figures over the whole ramp


class CpuSample(msgspec.Struct, kw_only=True, omit_defaults=True):
    busy_pct: float = 0.0  # whole node, 0..100
    per_core: list[float] = []  # busy % of each core
    user: float = 0.0  # % of the node
    system: float = 0.0
    iowait: float = 0.0
    steal: float = 0.0
    softirq: float = 0.0
    ncpu: int = 1
    procs_running: int = 0  # run queue
    quota_cores: float | None = None  # cgroup CPU quota in cores, when limited
    psi_some: float | None = None  # % of the tick some task waited for CPU (None: no PSI)


class MemorySample(msgspec.Struct, kw_only=True, omit_defaults=True):
    total: int = 0  # bytes
    available: int = 0  # bytes
    available_pct: float = 100.0
    swap_in: float = 0.0  # pages per second
    swap_out: float = 0.0
    major_faults: float = 0.0  # per second
    oom_kills: int = 0  # new OOM kills in the tick
    psi_some: float | None = None  # % of the tick
    psi_full: float | None = None


class DiskSample(msgspec.Struct, kw_only=True, omit_defaults=True):
    busy_pct: float = 0.0  # io_ticks delta / tick
    queue: float = 0.0  # average requests in flight (weighted io time / tick)
    await_ms: float = 0.0  # average time per completed I/O
    r_iops: float = 0.0
    w_iops: float = 0.0
    r_bps: float = 0.0  # bytes per second
    w_bps: float = 0.0


class NetSample(msgspec.Struct, kw_only=True, omit_defaults=True):
    rx_bps: float = 0.0  # bytes per second
    tx_bps: float = 0.0
    rx_pps: float = 0.0
    tx_pps: float = 0.0
    drops: float = 0.0  # per second, in + out
    errors: float = 0.0  # per second, in + out
    speed_mbps: float | None = None  # link speed when known


class TcpSample(msgspec.Struct, kw_only=True, omit_defaults=True):
    retrans_ratio: float = 0.0  # retransmitted / sent segments in the tick, 0..1
    out_segs: float = 0.0  # per second
    listen_overflows: int = 0  # new in the tick (/proc/net/netstat TcpExt)
    listen_drops: int = 0
    states: dict[str, int] = {}  # socket state -> count (ESTABLISHED, TIME_WAIT, ...)
    accept_queue: int | None = None  # connections waiting in the target's listen queue
    accept_backlog: int | None = None  # that queue's limit


class ProcBrief(msgspec.Struct, kw_only=True, array_like=True):
    """One of the node's busiest processes (observe mode lists them to pick one to attach to)."""

    pid: int
    name: str
    cpu_pct: float  # % of one core
    rss: int  # bytes


class NodeSample(msgspec.Struct, kw_only=True, omit_defaults=True):
    cpu: CpuSample = msgspec.field(default_factory=CpuSample)
    memory: MemorySample = msgspec.field(default_factory=MemorySample)
    disks: dict[str, DiskSample] = {}
    nets: dict[str, NetSample] = {}
    tcp: TcpSample = msgspec.field(default_factory=TcpSample)
    psi_io_some: float | None = None  # % of the tick
    psi_io_full: float | None = None
    top_procs: list[ProcBrief] = []  # busiest processes; refreshed every few ticks, empty in between
    cost_ms: float = 0.0  # CPU the probe spent on this sample


class ThreadSample(msgspec.Struct, kw_only=True, omit_defaults=True, array_like=True):
    tid: int
    name: str
    cpu_pct: float  # % of one core


class ProcSample(msgspec.Struct, kw_only=True, omit_defaults=True):
    pid: int
    alive: bool = True
    name: str = ""
    cpu_pct: float = 0.0  # the process and its children, % of one core
    threads: list[ThreadSample] = []  # busiest first
    num_threads: int = 0
    rss: int = 0  # bytes
    rss_growth_bps: float = 0.0  # bytes per second over the last window
    fds: int = 0
    fd_limit: int = 0  # soft RLIMIT_NOFILE
    ctx_voluntary: float = 0.0  # per second
    ctx_involuntary: float = 0.0
    read_bps: float = 0.0
    write_bps: float = 0.0
    run_delay_ms: float = 0.0  # ms per second spent runnable but waiting for a CPU (schedstat)
    children: int = 0


class FunctionShare(msgspec.Struct, kw_only=True, array_like=True):
    name: str  # "function (file.py:LINE)"
    own_pct: float  # % of samples with this function on top
    total_pct: float  # % of samples with this function anywhere on the stack


class ThreadState(msgspec.Struct, kw_only=True, omit_defaults=True):
    tid: int
    name: str = ""
    samples: int = 0
    running_pct: float = 0.0  # % of this thread's samples when it was active
    gil_pct: float | None = None  # % of its samples holding the GIL, when known
    waits: dict[str, float] = {}  # WAIT_CLASSES -> % of this thread's samples
    top_wait: str = ""  # the frame it most often waits in, "function (file.py:LINE)"


class FoldedStack(msgspec.Struct, array_like=True):
    """Samples that shared one stack and one state: the flame graph's input."""

    frames: list[int]  # indices into StackWindow.names, outermost first
    count: int
    state: str = "running"  # "running", or the wait class (WAIT_CLASSES) the stack was waiting in


class StackWindow(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Python stacks of the target aggregated over a window (a ramp step, or a rolling window)."""

    t_start: float
    t_end: float
    pid: int
    samples: int = 0
    functions: list[FunctionShare] = []  # by own share, largest first, at most 20
    threads: list[ThreadState] = []
    gil_pct: float | None = None  # % of samples in which some thread held the GIL
    spy_cpu_pct: float = 0.0  # py-spy's own CPU, % of one core
    error: str = ""  # why stacks are missing (permission, not Python, exited)
    # The window's stacks for a flame graph: frame names "function (file.py)", and the busiest stacks (idle
    # waits left out), at most stack_classify.MAX_FOLDED of them; the rest are summed into one "(other stacks)".
    names: list[str] = []
    folded: list[FoldedStack] = []


class RemoteThread(msgspec.Struct, kw_only=True, omit_defaults=True, array_like=True):
    """The threads of one name in a process-exporter group (the exporter sums threads that share a name)."""

    name: str
    cpu_pct: float  # all threads of this name together, % of one core
    count: int = 1  # threads with this name: the busiest of them used at least cpu_pct / count


class RemoteGroup(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One process-exporter group (the processes its config matches by name) on a remote node."""

    group: str
    procs: int = 0
    cpu_pct: float | None = None  # every process of the group, % of one core (None: a gap this tick)
    threads: list[RemoteThread] = []  # busiest first; empty when the exporter runs without -threads
    num_threads: int = 0
    rss: int = 0  # bytes
    fds: int = 0
    fd_ratio: float | None = None  # open fds / RLIMIT_NOFILE of the group's worst process, 0..1
    ctx_voluntary: float = 0.0  # per second
    ctx_involuntary: float = 0.0
    read_bps: float = 0.0  # bytes per second
    write_bps: float = 0.0
    major_faults: float = 0.0  # per second


# What a remote sample is read from.
REMOTE_SOURCES = ("node-exporter", "process-exporter", "prometheus")


class RemoteSample(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One remote node in one tick, as its Prometheus exporters (or a Prometheus server) report it.

    A gap is None, never zeros: ``node`` is None when the scrape failed or is stale, on the first scrape (it
    primes the counters) and when a node-wide counter went down (a reboot or an exporter restart).
    """

    host: str  # the instance address, "10.0.0.7:9100"
    source: str = "node-exporter"  # REMOTE_SOURCES
    node: NodeSample | None = None
    groups: list[RemoteGroup] = []  # process-exporter groups on this host, busiest first
    load1: float | None = None  # 1-minute load average
    missing: list[str] = []  # signals the exporter does not offer ("psi", "psi-memory", "tcp", ...)
    resets: list[str] = []  # counters that went down this tick (each is a gap for this tick)
    stale: bool = False  # no fresh data this tick (the exporter did not answer in time, or Prometheus has none)
    age_s: float | None = None  # how old the newest data is, seconds (Prometheus: since its last scrape)
# -- kernel wait states (probes/threads.py) ---------------------------------------------------------------------
# What a thread of the target is doing, as the kernel says (scheduler state, blocked syscall, wchan), never from
# function names: running (state R), futex (a lock or condition), socket (blocked on one or more sockets that are
# not listeners: read/recv/poll/select/epoll; see the peer for which), disk (state D, fsync and friends, aio),
# sleep (nanosleep), idle (accept, or poll/epoll/select over a set that holds a listening socket: waiting for work),
# other (pipes, eventfds, child waits, signals, anything else).
KernelWaitClass = Literal["running", "futex", "socket", "disk", "sleep", "idle", "other"]
KERNEL_WAIT_CLASSES: tuple[KernelWaitClass, ...] = ("running", "futex", "socket", "disk", "sleep", "idle", "other")
# Who is at the other end of a socket a thread waits on: client (the socket was accepted on one of the target's
# listening ports: the request path), downstream (the target opened it to another address), unix (a unix-domain
# socket), other (not a TCP or unix socket we could resolve).
PeerRole = Literal["client", "downstream", "unix", "other"]


class PeerWait(msgspec.Struct, kw_only=True, array_like=True):
    """Thread time of the target spent blocked on sockets to one peer, over a wait window."""

    # "127.0.0.1:6379", "[::1]:5432", "unix:/run/postgresql/.s.PGSQL.5432"; the request path: "clients of :PORT"
    peer: str = ""
    role: PeerRole = "other"
    threads: float = 0.0  # mean number of the target's threads blocked on this peer per sweep
    pct: float = 0.0  # % of all thread-samples of the window (a thread waiting on N sockets counts 1/N for each)


class ThreadWait(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One thread's wait states over a window (only the top few threads are kept)."""

    tid: int = 0
    pid: int = 0  # the process (thread group) it belongs to
    name: str = ""  # /proc comm
    samples: int = 0
    waits: dict[str, float] = {}  # KernelWaitClass -> % of this thread's samples
    syscall: str = ""  # the syscall it was most often blocked in ("futex", "recvfrom", ...)
    wchan: str = ""  # the kernel function it most often slept in ("futex_do_wait", ...)
    peer: str = ""  # the peer it most often waited on, when it waited on a socket


class ProcessWaits(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The wait states of one process of the target's tree (the target and its children)."""

    pid: int = 0
    name: str = ""
    threads: float = 0.0  # mean thread count over the window
    waits: dict[str, float] = {}  # KernelWaitClass -> % of this process's thread-samples


class WaitSample(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The target's threads as the kernel saw them over the window since the previous tick (a few sweeps)."""

    t_start: float = 0.0  # session clock seconds
    t_end: float = 0.0
    pid: int = 0
    sweeps: int = 0  # how many times every thread was read in the window
    threads: float = 0.0  # mean thread count per sweep, the target and its children
    waits: dict[str, float] = {}  # KernelWaitClass -> % of all thread-samples (sums to about 100)
    peers: list[PeerWait] = []  # by thread time, largest first, at most 8
    syscalls: dict[str, float] = {}  # blocked syscall name -> % of all thread-samples, the top 6
    wchans: dict[str, float] = {}  # wchan -> % of all thread-samples, the top 6 (running threads have none)
    top_threads: list[ThreadWait] = []  # most samples running or in futex/socket/disk first; at most 8
    processes: list[ProcessWaits] = []  # per process, only when the target has children; at most 8
    unresolved_pct: float = 0.0  # % of thread-samples in poll/select whose fd set could not be read (mem denied)
    sweep_hz: float = 0.0  # sweeps per second in the window (adapts to the thread count)
    cost_pct: float = 0.0  # the sampler's own CPU, % of one core over the window
    error: str = ""  # why waits are missing (target exited, permission denied)


# -- downstream peers and the request path from tcp_info (probes/peers.py) ------------------------------------------


class DownstreamPeer(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Connections from the target to one address:port it opened sockets to, from tcp_info at the tick's end."""

    peer: str = ""  # "127.0.0.1:6379" or "[::1]:5432"
    sockets: int = 0  # established connections to it
    # sockets with data sent and nothing received since (tcp_info: last data sent newer than last received, or
    # nothing ever received): a request awaiting its reply
    outstanding: int = 0
    oldest_ms: float = 0.0  # age of the oldest outstanding request (ms since its last data was sent)
    mean_age_ms: float = 0.0  # mean age of the outstanding requests
    rtt_ms: float = 0.0  # mean smoothed RTT of the connections (tcpi_rtt)
    unacked: int = 0  # segments sent and not yet acknowledged, summed
    pid: int | None = None  # the local process listening at the peer address, when it is on this host
    process: str = ""  # its name ("redis-server")


class ListenerLoad(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The request path: connections accepted on one of the target's listening ports, from tcp_info."""

    port: int = 0
    sockets: int = 0  # established client connections
    in_progress: int = 0  # sockets with a request received and not answered since (the mirror of outstanding)
    oldest_ms: float = 0.0  # age of the oldest request in progress (ms since its last data arrived)


class PeersSample(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Where the target's TCP connections go, at the end of one tick."""

    downstream: list[DownstreamPeer] = []  # by outstanding, then sockets; at most 12
    listeners: list[ListenerLoad] = []  # one per listening port of the target
    sockets: int = 0  # TCP sockets the target holds (all states but TIME_WAIT)
    cost_ms: float = 0.0  # CPU the probe spent on this sample
    error: str = ""


# -- the target's cgroup (probes/cgroup.py) --------------------------------------------------------------------------


class CgroupSample(msgspec.Struct, kw_only=True, omit_defaults=True):
    """CPU quota, throttling, memory limit and pressure of the target's cgroup; rates over the last tick."""

    path: str = ""  # the cgroup path as in /proc/PID/cgroup ("/system.slice/app.service")
    version: int = 2  # 1 or 2
    quota_cores: float | None = None  # CPU quota in cores (cpu.max, cfs_quota_us/cfs_period_us); None: unlimited
    quota_path: str = ""  # the cgroup that sets that quota: the target's own or an ancestor's
    period_us: int = 0  # quota period, microseconds
    usage_cores: float = 0.0  # CPU the cgroup used, cores (cpu.stat usage_usec, cpuacct.usage)
    periods: float = 0.0  # enforcement periods per second (nr_periods)
    throttled_periods: float = 0.0  # periods per second in which the cgroup was throttled (nr_throttled)
    throttled_pct: float = 0.0  # throttled periods / periods in the tick, 0..100
    throttled_ms: float = 0.0  # ms per second the cgroup's tasks were held back by the quota (throttled_usec)
    memory_limit: int | None = None  # bytes (memory.max, memory.limit_in_bytes); None: unlimited
    memory_usage: int = 0  # bytes (memory.current, memory.usage_in_bytes)
    memory_high: int | None = None  # bytes (v2 memory.high), when set
    oom_kills: int = 0  # new OOM kills in the cgroup in the tick (memory.events oom_kill, memory.oom_control)
    psi_cpu_some: float | None = None  # % of the tick some task of the cgroup waited for CPU (cpu.pressure)
    psi_cpu_full: float | None = None
    psi_memory_some: float | None = None  # memory.pressure
    psi_memory_full: float | None = None
    psi_io_some: float | None = None  # io.pressure
    error: str = ""
