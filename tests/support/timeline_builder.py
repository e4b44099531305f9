"""Build synthetic timelines (Header + Frames) for tests: short helpers for each sample, and a builder that
appends ticks, ramp steps and the ramp's outcome at the right session times.

    b = TimelineBuilder(header(ncpu=4))
    b.step(100, p99=5, node=node(busy=30), target=proc(cpu=40))        # 5 ticks and a StepResult
    b.ticks(3, node=node(busy=95, psi=30))                              # plain ticks
    b.outcome(100, reason="p99")
    verdict = build_verdict(b.header, b.frames)
"""

from __future__ import annotations

from typing import Any

import msgspec

from bottlenecktop.probes.samples import (
    CgroupSample,
    CpuSample,
    DiskSample,
    DownstreamPeer,
    FunctionShare,
    ListenerLoad,
    LoadSecond,
    MemorySample,
    NetSample,
    NodeSample,
    PeerRole,
    PeersSample,
    PeerWait,
    ProcSample,
    RampEndReason,
    RampOutcome,
    StackWindow,
    StepFailure,
    StepPhase,
    StepResult,
    TcpSample,
    ThreadSample,
    ThreadState,
    WaitSample,
)
from bottlenecktop.session import Event, Frame, Header, Slo, Target
from bottlenecktop.verdict_types import Mode

PID = 4242
DRIVER_PID = 99
GiB = 2**30


def header(ncpu: int = 4, pid: int | None = PID, url: str | None = "http://127.0.0.1:8000/", local: bool = True,
           mode: Mode = "ramp", p99_ms: float = 500.0, error_rate: float = 0.01, driver_pid: int | None = DRIVER_PID,
           self_pid: int | None = DRIVER_PID, interval: float = 1.0) -> Header:
    return Header(mode=mode, cpu_count=ncpu, memory_bytes=8 * GiB, host="test", interval=interval,
                  target=Target(url=url, pid=pid, local=local), slo=Slo(p99_ms=p99_ms, error_rate=error_rate),
                  driver_pid=driver_pid, self_pid=self_pid)


def node(busy: float = 10.0, ncpu: int = 4, psi: float | None = 0.0, runq: int = 1, iowait: float = 0.0,
         avail_pct: float = 60.0, mem_psi: float | None = 0.0, swap: float = 0.0, faults: float = 0.0,
         oom: int = 0, disks: dict[str, DiskSample] | None = None, nets: dict[str, NetSample] | None = None,
         tcp: TcpSample | None = None, psi_io: float | None = 0.0, quota: float | None = None) -> NodeSample:
    """A node sample; ``busy`` is % of the whole node, every core equally busy."""
    total = 8 * GiB
    return NodeSample(
        cpu=CpuSample(busy_pct=busy, per_core=[busy] * ncpu, user=busy * 0.8, system=busy * 0.2, iowait=iowait,
                      ncpu=ncpu, procs_running=runq, psi_some=psi, quota_cores=quota),
        memory=MemorySample(total=total, available=int(total * avail_pct / 100), available_pct=avail_pct,
                            swap_in=swap / 2, swap_out=swap / 2, major_faults=faults, oom_kills=oom,
                            psi_some=mem_psi, psi_full=0.0 if mem_psi is not None else None),
        disks=disks or {}, nets=nets or {}, tcp=tcp or TcpSample(), psi_io_some=psi_io)


def disk(busy: float, queue: float = 0.0, await_ms: float = 1.0) -> dict[str, DiskSample]:
    return {"sda": DiskSample(busy_pct=busy, queue=queue, await_ms=await_ms, w_iops=100.0)}


def proc(pid: int = PID, cpu: float = 5.0, threads: list[tuple[str, float]] | None = None, fds: int = 20,
         fd_limit: int = 1024, rss: int = 100 * 2**20, rss_growth: float = 0.0, alive: bool = True,
         children: int = 0, num_threads: int | None = None, name: str = "python3") -> ProcSample:
    """A process sample; ``threads``: (name, % of one core), busiest first."""
    ts = [ThreadSample(tid=pid + k, name=n, cpu_pct=c) for k, (n, c) in enumerate(threads or [("MainThread", cpu)])]
    return ProcSample(pid=pid, alive=alive, name=name, cpu_pct=cpu, threads=ts,
                      num_threads=num_threads or len(ts), rss=rss, rss_growth_bps=rss_growth, fds=fds,
                      fd_limit=fd_limit, children=children)


def driver(cpu: float = 20.0, pid: int = DRIVER_PID) -> ProcSample:
    return proc(pid=pid, cpu=cpu, name="bottlenecktop")


def load(offered: float, achieved: float | None = None, p50: float = 2.0, p99: float = 5.0,
         errors: dict[str, int] | None = None, driver_cpu: float = 10.0, late: int = 0, lag: float = 0.0,
         phase: StepPhase = "ramping", step: int = 0, in_flight: int | None = None,
         bytes_per: int = 1000) -> LoadSecond:
    """One driver interval; the frame's time is filled in by the builder."""
    got = offered if achieved is None else achieved
    errs = errors or {}
    completed = int(got) + sum(errs.values())
    return LoadSecond(t=0.0, phase=phase, step=step, target_rps=offered, offered_rps=offered, sent=int(offered),
                      completed=completed, ok=int(got), errors=errs, achieved_rps=got, p50_ms=p50, p90_ms=p99 * 0.8,
                      p99_ms=p99, max_ms=p99 * 1.5, bytes_in=int(got) * bytes_per, driver_cpu_pct=driver_cpu,
                      lag_p99_ms=lag, late=late,
                      in_flight=in_flight if in_flight is not None else max(1, int(got * p50 / 1000)))


def stacks(threads: list[tuple[str, int, dict[str, float], str]] | None = None, gil: float | None = None,
           functions: list[tuple[str, float, float]] | None = None, pid: int = PID, error: str = "") -> StackWindow:
    """A stack window template; ``threads``: (name, samples, waits {class: %}, top_wait); ``functions``:
    (name, own %, total %). The builder sets its times to the ticks it covers."""
    ts = [ThreadState(tid=pid + k, name=n, samples=s, waits=w, top_wait=top,
                      running_pct=max(0.0, 100 - sum(w.values())), gil_pct=gil)
          for k, (n, s, w, top) in enumerate(threads or [])]
    fs = [FunctionShare(name=n, own_pct=o, total_pct=t) for n, o, t in functions or []]
    samples = sum(t.samples for t in ts)
    return StackWindow(t_start=0.0, t_end=0.0, pid=pid, samples=samples, functions=fs, threads=ts, gil_pct=gil,
                       error=error)


def waits(threads: float = 8.0, pid: int = PID, running: float = 0.0, futex: float = 0.0, socket: float = 0.0,
          disk: float = 0.0, sleep: float = 0.0, idle: float = 0.0, other: float = 0.0,
          peers: list[tuple[str, PeerRole, float]] | None = None) -> WaitSample:
    """Kernel wait states; each class in threads (mean per sweep, out of ``threads``); ``peers``: (peer, role,
    threads blocked on it). The builder sets its times."""
    counts = {"running": running, "futex": futex, "socket": socket, "disk": disk, "sleep": sleep, "idle": idle,
              "other": other}
    pct = {k: v / threads * 100 for k, v in counts.items() if v > 0}
    pws = [PeerWait(peer=p, role=r, threads=n, pct=n / threads * 100) for p, r, n in peers or []]
    return WaitSample(pid=pid, sweeps=5, threads=threads, waits=pct, peers=pws, sweep_hz=5.0)


def peers(downstream: list[tuple[str, int, int]] | None = None, listeners: list[tuple[int, int, int]] | None = None,
          owners: dict[str, tuple[int, str]] | None = None) -> PeersSample:
    """tcp_info: ``downstream`` (peer, sockets, outstanding requests), ``listeners`` (port, sockets, in progress),
    ``owners``: peer -> (pid, name) of the local process listening there."""
    owned = owners or {}
    ds = [DownstreamPeer(peer=p, sockets=n, outstanding=o, pid=owned[p][0] if p in owned else None,
                         process=owned[p][1] if p in owned else "") for p, n, o in downstream or []]
    ls = [ListenerLoad(port=port, sockets=n, in_progress=busy) for port, n, busy in listeners or []]
    return PeersSample(downstream=ds, listeners=ls, sockets=sum(d.sockets for d in ds) + sum(x.sockets for x in ls))


def cgroup(path: str = "/bttest-1", quota: float | None = 0.5, usage: float = 0.5, throttled: float = 60.0,
           memory_limit: int | None = None, memory_usage: int = 100 * 2**20) -> CgroupSample:
    """The target's cgroup: quota and usage in cores, throttled % of periods, memory in bytes."""
    return CgroupSample(path=path, quota_cores=quota, quota_path=path if quota else "", usage_cores=usage,
                        periods=10.0, throttled_periods=throttled / 10, throttled_pct=throttled,
                        throttled_ms=throttled * 5, memory_limit=memory_limit, memory_usage=memory_usage)


class TimelineBuilder:
    """Appends frames one tick apart (``header.interval``), starting at t = interval."""

    def __init__(self, hdr: Header | None = None) -> None:
        self.header = hdr or header()
        self.frames: list[Frame] = []
        self._step = 0

    @property
    def t(self) -> float:
        """Session seconds of the last frame (0 before any)."""
        return self.frames[-1].t if self.frames else 0.0

    def tick(self, **parts: Any) -> Frame:
        """One frame; ``parts`` are Frame fields (load, node, target, driver, self_proc, stacks, waits, peers,
        cgroup, peer_procs, events, ...)."""
        t = round(self.t + self.header.interval, 6)
        if parts.get("load") is not None:
            parts["load"] = msgspec.structs.replace(parts["load"], t=t)
        if parts.get("stacks") is not None:
            parts["stacks"] = msgspec.structs.replace(parts["stacks"], t_start=t - self.header.interval, t_end=t)
        if parts.get("waits") is not None:
            parts["waits"] = msgspec.structs.replace(parts["waits"], t_start=t - self.header.interval, t_end=t)
        frame = Frame(t=t, **parts)
        self.frames.append(frame)
        return frame

    def ticks(self, n: int, stacks: StackWindow | None = None, **parts: Any) -> TimelineBuilder:
        """``n`` frames with the same parts; a ``stacks`` window covering all of them closes on the last."""
        t0 = self.t
        for k in range(n):
            frame = self.tick(**parts)
            if stacks is not None and k == n - 1:
                frame.stacks = msgspec.structs.replace(stacks, t_start=t0, t_end=frame.t)
        return self

    def step(self, offered: float, achieved: float | None = None, p50: float = 2.0, p99: float = 5.0,
             errors: dict[str, int] | None = None, seconds: int = 5, sustained: bool | None = None,
             reason: StepFailure = "", phase: StepPhase = "ramping", driver_cpu: float = 10.0, late: int = 0,
             bytes_per: int = 1000, in_flight: int | None = None, **parts: Any) -> StepResult:
        """A ramp step of ``seconds`` ticks at ``offered`` req/s, closed by a StepResult on its last tick.

        ``errors``: class -> count per second (the StepResult gets the step's totals).
        ``sustained`` defaults to: achieved within 5 % of offered, p99 and errors within the header's SLO.
        """
        got = offered if achieved is None else achieved
        errs = errors or {}
        completed = got + sum(errs.values())
        error_rate = sum(errs.values()) / completed if completed else 0.0
        slo = self.header.slo
        if sustained is None:
            sustained = got >= 0.95 * offered and p99 <= slo.p99_ms and error_rate <= slo.error_rate
            if not sustained and not reason:
                reason = "p99" if p99 > slo.p99_ms else "errors" if error_rate > slo.error_rate else "achieved"
        t_start = self.t
        sample = load(offered, got, p50, p99, errs, driver_cpu, late, phase=phase, step=self._step,
                      bytes_per=bytes_per, in_flight=in_flight)
        self.ticks(seconds, load=sample, **parts)
        result = StepResult(step=self._step, phase=phase, t_start=t_start, t_end=self.t, offered_rps=offered,
                            achieved_rps=got, p50_ms=p50, p90_ms=p99 * 0.8, p99_ms=p99, max_ms=p99 * 1.5,
                            error_rate=error_rate, errors={k: v * seconds for k, v in errs.items()},
                            sustained=sustained, reason=reason, driver_cpu_pct=driver_cpu, late=late * seconds)
        self.frames[-1].step = result
        self._step += 1
        return result

    def outcome(self, rps: float | None, p99: float | None = None, error_rate: float | None = 0.0,
                reason: RampEndReason = "p99", confirmed: bool = True, driver_limited: bool = False) -> RampOutcome:
        """The ramp's end, set on the last frame."""
        out = RampOutcome(t=self.t, max_sustainable_rps=rps, p99_ms=p99, error_rate=error_rate,
                          confirmed=confirmed, driver_limited=driver_limited, reason=reason)
        self.frames[-1].outcome = out
        return out


def exit_event(text: str) -> Event:
    """The tick loop's event for the target's exit."""
    return Event(kind="target-exit", text=text)


def stop_event(pid: int = PID, t: float = 0.0) -> Event:
    """The tick loop's event for the target seen stopped (state T)."""
    return Event(kind="target-stopped", text=f"target pid {pid} stopped (state T) at {t:.0f} s")


def resume_event(pid: int = PID, t: float = 0.0) -> Event:
    """The tick loop's event for a stopped target seen running again."""
    return Event(kind="target-resumed", text=f"target pid {pid} resumed at {t:.0f} s")


def restart_event(pid: int, old: int = PID, t: float = 0.0) -> Event:
    """The tick loop's event for a new process listening on the port of a target that exited (then followed)."""
    return Event(kind="target-restarted", text=f"pid {pid} listens on port 8000 at {t:.0f} s in place of pid {old}")
