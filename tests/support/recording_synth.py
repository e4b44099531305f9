"""Synthetic sessions for the recording, compare and report tests: a ramp against a target whose capacity
is chosen, with every probe's record filled in enough for the engine to work on."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import msgspec
from hdrh.histogram import HdrHistogram

from bottlenecktop.analysis.capacity import request_cost
from bottlenecktop.probes.samples import (
    CpuSample,
    FunctionShare,
    LoadSecond,
    NodeSample,
    ProcSample,
    RampOutcome,
    StackWindow,
    StepResult,
    ThreadSample,
)
from bottlenecktop.recording import RecordingWriter
from bottlenecktop.session import Frame, Header, Target
from bottlenecktop.verdict_types import Bottleneck, BottleneckResource, Capacity, StepRow, Verdict


def header(**kw: Any) -> Header:
    base: dict[str, Any] = dict(
        mode="ramp", started_at=1_700_000_000.0, host="synth", cpu_count=2, kernel="6.1", version="0.1.0",
        command_line=["bottlenecktop", "http://127.0.0.1:8000/"], target=Target(url="http://127.0.0.1:8000/", pid=42),
    )
    base.update(kw)
    return Header(**base)


def hist_b64(rng: random.Random, n: int, median_us: float) -> str:
    h = HdrHistogram(1, 60_000_000, 3)
    for _ in range(n):
        h.record_value(max(1, int(rng.lognormvariate(0, 0.4) * median_us)))
    encoded = h.encode()
    return encoded.decode() if isinstance(encoded, bytes) else str(encoded)


def ramp_frames(capacity_rps: float, cpu_ms_per_req: float = 2.0, hot: str = "render (app.py:88)",
                step_s: int = 3, seed: int = 1, with_hist: bool = True) -> list[Frame]:
    """A ramp x1.5 per step from 20 req/s until a step exceeds ``capacity_rps``; p99 climbs near capacity."""
    rng = random.Random(seed)
    frames: list[Frame] = []
    rate, step, t = 20.0, 0, 0
    best = 0.0
    while True:
        achieved = min(rate, capacity_rps)
        util = achieved / capacity_rps
        p99 = round(5.0 + 200.0 * util**8 + (800.0 if rate > capacity_rps else 0.0), 2)
        for s in range(step_s):
            t += 1
            n = int(achieved)
            load = LoadSecond(t=float(t), step=step, target_rps=rate, offered_rps=rate, sent=int(rate), completed=n,
                              ok=n, achieved_rps=achieved, p50_ms=round(p99 / 4, 2), p90_ms=round(p99 / 2, 2),
                              p99_ms=p99,
                              max_ms=p99 * 2, hist=hist_b64(rng, min(n, 200), p99 * 250) if with_hist else "")
            cpu = round(achieved * cpu_ms_per_req / 10.0, 3)  # % of one core: req/s * ms/req / 1000 ms * 100
            stacks = None
            if s == step_s - 1:
                share = round(20.0 + 60.0 * util, 2)
                stacks = StackWindow(t_start=float(t - step_s), t_end=float(t), pid=42, samples=300, functions=[
                    FunctionShare(name=hot, own_pct=share, total_pct=share + 5),
                    FunctionShare(name="wait (threading.py:320)", own_pct=round(100 - share, 2),
                                  total_pct=round(100 - share, 2)),
                ])
            sr = None
            if s == step_s - 1:
                sr = StepResult(step=step, phase="ramping", t_start=float(t - step_s), t_end=float(t),
                                offered_rps=rate, achieved_rps=achieved, p50_ms=round(p99 / 4, 2), p99_ms=p99,
                                sustained=rate <= capacity_rps, reason="" if rate <= capacity_rps else "p99")
            frames.append(Frame(
                t=float(t), load=load, step=sr, stacks=stacks,
                node=NodeSample(cpu=CpuSample(busy_pct=round(cpu / 2, 3), per_core=[round(cpu / 2, 3)] * 2, ncpu=2)),
                target=ProcSample(pid=42, name="python3", cpu_pct=cpu, threads=[ThreadSample(tid=42, name="Main",
                                                                                             cpu_pct=cpu)]),
            ))
        if rate > capacity_rps:
            break
        best = rate
        rate = round(rate * 1.5, 2)
        step += 1
    frames[-1] = msgspec.structs.replace(frames[-1], outcome=RampOutcome(
        t=float(t), max_sustainable_rps=best, p99_ms=5.0, confirmed=True, reason="p99"))
    return frames


def verdict_for(frames: list[Frame], resource: BottleneckResource = "cpu-thread") -> Verdict:
    """A verdict for ``frames`` that names ``resource``: the magic number of their outcome, the analysis's cost."""
    outcome = frames[-1].outcome
    assert outcome is not None
    return Verdict(capacity=Capacity(max_sustainable_rps=outcome.max_sustainable_rps, p99_ms_at_max=outcome.p99_ms),
                   bottleneck=Bottleneck(resource=resource, scope="pid 42 thread Main", confidence=0.9,
                                         evidence=["thread Main at 99 % of one core"]),
                   steps=[StepRow(offered_rps=f.step.offered_rps, achieved_rps=f.step.achieved_rps,
                                  p99_ms=f.step.p99_ms) for f in frames if f.step is not None],
                   cost_per_request=request_cost(header(), frames), mode="ramp")


def write_recording(path: Path, frames: list[Frame], verdict: Verdict | None = None,
                    **header_kw: Any) -> Path:
    with RecordingWriter(path, header(**header_kw)) as writer:
        for frame in frames:
            writer.append(frame)
        if verdict is not None:
            writer.write_verdict(verdict)
    assert writer.error is None, writer.error
    return path
