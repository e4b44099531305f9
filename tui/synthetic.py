"""A synthetic, deterministic session: a ramp into a one-thread (GIL) bottleneck.

For previews (``python -m bottlenecktop.tui``), tests, snapshots, screenshots and the idle-cost benchmark. A real
run never uses it: the runner builds the Session from the probes.
"""

from __future__ import annotations

import math
import random

from bottlenecktop.probes.samples import (
    CpuSample,
    DiskSample,
    FoldedStack,
    FunctionShare,
    LoadSecond,
    MemorySample,
    NetSample,
    NodeSample,
    ProcBrief,
    ProcSample,
    RampOutcome,
    StackWindow,
    StepResult,
    TcpSample,
    ThreadSample,
    ThreadState,
    WaitSample,
)
from bottlenecktop.session import Frame, Header, Session, Target
from bottlenecktop.verdict_types import Bottleneck, Capacity, Mode, SloLimits, Verdict, VerdictTarget

CAPACITY_RPS = 420.0  # where the synthetic target's one busy thread saturates
STEP_S = 5  # seconds per ramp step
PID = 4242


def synthetic_header(mode: Mode = "demo", *, url: str | None = "http://127.0.0.1:8000/",
                     pid: int | None = PID) -> Header:
    """A header like the demo's: 2 cores, a local target."""
    return Header(mode=mode, host="synthetic", cpu_count=2, memory_bytes=4 << 30, kernel="6.1",
                  version="0.1.0", python="3.11", command_line=["bottlenecktop", mode],
                  target=Target(url=url, pid=pid), demo={"kind": "gil"} if mode == "demo" else {})


def _offered(step: int) -> float:
    return round(50.0 * 1.5**step, 1)


def _latency(rate: float) -> tuple[float, float]:
    """p50, p99 in ms: flat until the knee, then queueing makes them climb."""
    rho = min(rate / CAPACITY_RPS, 1.6)
    p50 = 2.0 + 3.0 * rho**4
    p99 = 6.0 + (600.0 * (rho - 0.85) ** 2 if rho > 0.85 else 0.0) + 20.0 * rho**3
    return round(p50, 2), round(p99, 2)


def synthetic_frame(t: int, *, ramp: bool = True, rng: random.Random | None = None) -> Frame:
    """The frame of tick ``t`` (session seconds) of the synthetic run; ``ramp=False`` gives an observe frame."""
    rng = rng or random.Random(t)
    jitter = 1.0 + (rng.random() - 0.5) * 0.04
    step = min(t // STEP_S, 8)  # after 45 s the synthetic ramp holds at its last (overloaded) step
    offered = _offered(step) if ramp else 0.0
    achieved = min(offered, CAPACITY_RPS) * jitter if ramp else 0.0
    p50, p99 = _latency(offered)
    errs = {"timeout": int((offered - CAPACITY_RPS) * 0.05)} if offered > CAPACITY_RPS * 1.2 else {}
    load = None
    if ramp:
        load = LoadSecond(t=float(t), phase="ramping" if t < 45 else "holding", step=step, target_rps=offered,
                          offered_rps=offered,
                          sent=int(offered), completed=int(achieved), ok=int(achieved), errors=errs,
                          achieved_rps=round(achieved, 1), p50_ms=p50, p90_ms=p50 * 2, p99_ms=p99,
                          driver_cpu_pct=8.0 + offered / 40.0, connections=16)
    busy = achieved / CAPACITY_RPS  # 0..1 of the one hot thread
    thread_pct = min(99.0, 99.0 * busy) if ramp else 3.0 + 2.0 * math.sin(t / 7.0)
    node_busy = 6.0 + thread_pct * 0.5 + (offered / 40.0 if ramp else 0.0) / 2
    node = NodeSample(
        cpu=CpuSample(busy_pct=round(node_busy, 1), per_core=[round(node_busy * 1.2, 1), round(node_busy * 0.8, 1)],
                      user=node_busy * 0.8, system=node_busy * 0.2, ncpu=2, procs_running=1 + int(busy * 2),
                      psi_some=round(2.0 * busy, 1)),
        memory=MemorySample(total=4 << 30, available=int((4 << 30) * 0.58), available_pct=58.0 - t * 0.01),
        disks={"vda": DiskSample(busy_pct=2.0 + (t % 7) * 0.3, await_ms=0.4, w_iops=3.0)},
        nets={"lo": NetSample(rx_bps=achieved * 900, tx_bps=achieved * 1400, speed_mbps=None),
              "eth0": NetSample(rx_bps=400.0, tx_bps=300.0, speed_mbps=1000.0)},
        tcp=TcpSample(states={"ESTABLISHED": 18, "TIME_WAIT": 3}),
        top_procs=[ProcBrief(pid=PID, name="python3 demo", cpu_pct=round(thread_pct + 2, 1), rss=92 << 20),
                   ProcBrief(pid=901, name="nginx: worker", cpu_pct=4.0, rss=12 << 20),
                   ProcBrief(pid=733, name="postgres", cpu_pct=2.5, rss=140 << 20),
                   ProcBrief(pid=612, name="sshd", cpu_pct=0.3, rss=8 << 20)] if t % 3 == 0 else [],
        cost_ms=0.7,
    )
    target = ProcSample(pid=PID, name="python3 demo", cpu_pct=round(thread_pct + 3, 1),
                        threads=[ThreadSample(tid=PID, name="MainThread", cpu_pct=round(thread_pct, 1)),
                                 ThreadSample(tid=PID + 1, name="accept", cpu_pct=1.5)],
                        num_threads=3, rss=(90 << 20) + t * 4096, fds=40 + step, fd_limit=1024,
                        ctx_voluntary=achieved * 2)
    stacks = None
    if t > 0 and t % STEP_S == STEP_S - 1:
        stacks = StackWindow(
            t_start=float(t - STEP_S + 1), t_end=float(t), pid=PID, samples=500, gil_pct=round(95 * busy, 1),
            functions=[FunctionShare(name="render_page (app.py:88)", own_pct=round(61 * busy, 1), total_pct=93.0),
                       FunctionShare(name="escape (markupsafe/__init__.py:41)", own_pct=round(14 * busy, 1),
                                     total_pct=18.0),
                       FunctionShare(name="dumps (json/encoder.py:200)", own_pct=6.0, total_pct=9.5),
                       FunctionShare(name="handle (socketserver.py:761)", own_pct=2.0, total_pct=97.0),
                       FunctionShare(name="readinto (socket.py:706)", own_pct=1.5, total_pct=2.1)],
            threads=[ThreadState(tid=PID, name="MainThread", samples=500, running_pct=round(97 * busy, 1),
                                 gil_pct=round(95 * busy, 1), waits={"socket": round(100 - 97 * busy, 1)},
                                 top_wait="readinto (socket.py:706)"),
                     ThreadState(tid=PID + 1, name="accept", samples=500, running_pct=2.0,
                                 waits={"select": 98.0}, top_wait="select (selectors.py:415)")],
            spy_cpu_pct=3.1, names=SYNTHETIC_NAMES, folded=_synthetic_folded(busy))
    step_result = None
    if ramp and 0 < t < 45 and t % STEP_S == STEP_S - 1:
        sp50, sp99 = _latency(offered)
        step_result = StepResult(step=step, phase="ramping", t_start=float(t - STEP_S + 1), t_end=float(t),
                                 offered_rps=offered, achieved_rps=round(min(offered, CAPACITY_RPS), 1),
                                 p50_ms=sp50, p99_ms=sp99, sustained=offered <= CAPACITY_RPS,
                                 reason="" if offered <= CAPACITY_RPS else "achieved")
    # The kernel's view of the target's 3 threads: the hot one runs more as the load grows, waiting on the
    # client's socket less; the other two idle.
    run = round(33 * busy, 1)
    waits = WaitSample(t_start=t - 1.0, t_end=float(t), pid=PID, sweeps=10, threads=3.0,
                       waits={"running": run, "socket": round(33 - run, 1), "idle": 66.7}, sweep_hz=10.0)
    return Frame(t=float(t), load=load, step=step_result, node=node, target=target if ramp else None,
                 stacks=stacks if ramp else None, waits=waits if ramp else None)


SYNTHETIC_NAMES = ["<module> (demo.py)", "serve_forever (socketserver.py)", "_handle_request_noblock (socketserver.py)",
                   "handle (socketserver.py)", "render_page (app.py)", "escape (__init__.py)", "dumps (encoder.py)",
                   "readinto (socket.py)", "handle_one_request (server.py)"]


def _synthetic_folded(busy: float) -> list[FoldedStack]:
    """The render_page server's stacks: mostly rendering (escaping inside it), some JSON, a socket read."""
    render = round(300 * busy)
    return [FoldedStack(frames=[0, 1, 2, 3, 4], count=render),
            FoldedStack(frames=[0, 1, 2, 3, 4, 5], count=round(80 * busy)),
            FoldedStack(frames=[0, 1, 2, 3, 6], count=40),
            FoldedStack(frames=[0, 1, 2, 3, 8, 7], count=max(500 - render - round(80 * busy) - 40, 10),
                        state="client")]


def synthetic_session(seconds: int = 40, *, mode: Mode = "demo", finished: bool = False) -> Session:
    """A session of ``seconds`` ticks; ``mode="observe"`` has no load and no target.

    ``finished=True`` ends the ramp with an outcome and sets a verdict, like a completed demo run.
    """
    ramp = mode != "observe"
    header = synthetic_header(mode, url=None if not ramp else "http://127.0.0.1:8000/",
                              pid=None if not ramp else PID)
    session = Session(header)
    for t in range(seconds):
        frame = synthetic_frame(t, ramp=ramp)
        if t == 12:
            frame.marks.append("deploy v2")
        session.append(frame)
    if finished and ramp:
        last = session.frames[-1]
        last.outcome = RampOutcome(t=last.t, max_sustainable_rps=379.7, p99_ms=31.0, error_rate=0.0,
                                   confirmed=True, reason="achieved")
        session.verdict = synthetic_verdict()
    return session


def synthetic_verdict() -> Verdict:
    """A verdict matching the synthetic run."""
    return Verdict(
        target=VerdictTarget(url="http://127.0.0.1:8000/", pid=PID),
        capacity=Capacity(max_sustainable_rps=379.7, p99_ms_at_max=31.0, error_rate_at_max=0.0,
                          slo=SloLimits(p99_ms=500, error_rate=0.01)),
        bottleneck=Bottleneck(resource="cpu-thread", scope=f"pid {PID} thread MainThread", confidence=0.9,
                              evidence=[f"thread MainThread of pid {PID} at 99 % of one core for 10 s while the "
                                        "node was 58 % busy; 95 % of samples hold the GIL in render_page "
                                        "(app.py:88)"]),
        mode="demo",
    )
