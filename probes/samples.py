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
