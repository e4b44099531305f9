"""Size and open time of a one-hour recording at 1 Hz, with realistic synthetic frames.

Run: .venv/bin/python benchmarks/recording_size.py [--seconds 3600]

The frames are shaped like a real ramp on this machine: 2 cores, three disks and three NICs, a target with
16 threads, the driver and bottlenecktop itself as processes, a stack window every 5 s, the busiest processes
every 5 ticks, and a LoadSecond with the interval's base64 HdrHistogram at a few hundred to a few thousand
requests per second. Budget (DESIGN.md): under 5 MB, opens in under 1 s.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from hdrh.histogram import HdrHistogram

from bottlenecktop.probes.samples import (
    CpuSample,
    DiskSample,
    FunctionShare,
    LoadSecond,
    MemorySample,
    NetSample,
    NodeSample,
    ProcBrief,
    ProcSample,
    StackWindow,
    StepResult,
    TcpSample,
    ThreadSample,
    ThreadState,
)
from bottlenecktop.recording import RecordingWriter, read_recording
from bottlenecktop.session import Frame, Header, Target
from bottlenecktop.verdict_types import Capacity, Verdict

SIZE_BUDGET = 5_000_000  # bytes
OPEN_BUDGET = 1.0  # seconds


def realistic_header() -> Header:
    return Header(
        mode="ramp", started_at=time.time(), host="bench-host", cpu_count=2, memory_bytes=8 << 30,
        kernel="6.1.0-18-amd64", version="0.1.0", python="3.11.7",
        command_line=["bottlenecktop", "http://127.0.0.1:8000/", "-H", "Authorization: <redacted>"],
        target=Target(url="http://127.0.0.1:8000/", pid=4242), driver_pid=4300, self_pid=4200,
    )


def _proc(rng: random.Random, pid: int, name: str, nthreads: int, cpu: float) -> ProcSample:
    threads = [ThreadSample(tid=pid + i, name=f"worker-{i}" if i else "MainThread",
                            cpu_pct=cpu * rng.random() / max(1, i)) for i in range(nthreads)]
    return ProcSample(
        pid=pid, name=name, cpu_pct=cpu, threads=threads, num_threads=nthreads,
        rss=200_000_000 + rng.randrange(1 << 20), rss_growth_bps=rng.random() * 4096, fds=40 + rng.randrange(200),
        fd_limit=1024, ctx_voluntary=rng.random() * 3000, ctx_involuntary=rng.random() * 300,
        read_bps=rng.random() * 1e5, write_bps=rng.random() * 1e5, run_delay_ms=rng.random() * 40,
    )


def realistic_frame(rng: random.Random, t: int) -> Frame:
    """One tick of a ramp that climbs to about 3000 req/s, with every probe on."""
    step = t // 3
    rate = min(3000.0, 50 * 1.5 ** (step % 12))
    hist = HdrHistogram(1, 60_000_000, 3)  # microseconds, 3 significant digits
    n = int(rate)
    for _ in range(n):
        hist.record_value(int(rng.lognormvariate(8.0 + step % 12 * 0.1, 0.6)))
    q = [hist.get_value_at_percentile(p) / 1000 for p in (50, 90, 99, 99.9)]
    load = LoadSecond(
        t=t, dt=1.0 + rng.random() * 0.002, step=step, target_rps=rate, offered_rps=rate * (0.99 + rng.random() / 50),
        sent=n, completed=n, ok=n, in_flight=rng.randrange(50), achieved_rps=n / (1.0 + rng.random() * 0.002),
        p50_ms=q[0], p90_ms=q[1], p99_ms=q[2], p999_ms=q[3], max_ms=hist.get_max_value() / 1000,
        service_p99_ms=q[2] * 0.9, bytes_in=n * 612, hist=hist.encode().decode(), driver_cpu_pct=rng.random() * 60,
        lag_p99_ms=rng.random() * 3, connections=32,
        errors={"timeout": rng.randrange(3)} if rng.random() < 0.1 else {},
    )
    cores = [rng.random() * 100 for _ in range(2)]
    node = NodeSample(
        cpu=CpuSample(busy_pct=sum(cores) / 2, per_core=cores, user=rng.random() * 60, system=rng.random() * 20,
                      iowait=rng.random(), steal=0.0, softirq=rng.random() * 5, ncpu=2,
                      procs_running=rng.randrange(6), psi_some=rng.random() * 30),
        memory=MemorySample(total=8 << 30, available=5 << 30, available_pct=62.5 + rng.random(),
                            major_faults=rng.random(), psi_some=0.0, psi_full=0.0),
        disks={d: DiskSample(busy_pct=rng.random() * 10, queue=rng.random(), await_ms=rng.random() * 2,
                             r_iops=rng.random() * 50, w_iops=rng.random() * 80, r_bps=rng.random() * 4e5,
                             w_bps=rng.random() * 8e5) for d in ("sda", "sdb", "dm-0")},
        nets={i: NetSample(rx_bps=rng.random() * 2e6, tx_bps=rng.random() * 2e6, rx_pps=rng.random() * 4e3,
                           tx_pps=rng.random() * 4e3, speed_mbps=10000.0 if i == "eth0" else None)
              for i in ("lo", "eth0", "docker0")},
        tcp=TcpSample(retrans_ratio=rng.random() / 1000, out_segs=rng.random() * 6e3,
                      states={"ESTABLISHED": 40 + rng.randrange(10), "TIME_WAIT": rng.randrange(300), "LISTEN": 12},
                      accept_queue=rng.randrange(5), accept_backlog=128),
        psi_io_some=rng.random(), psi_io_full=rng.random() / 2,
        top_procs=[ProcBrief(pid=1000 + i, name=f"proc{i}", cpu_pct=rng.random() * 100, rss=rng.randrange(1 << 30))
                   for i in range(10)] if t % 5 == 0 else [],
        cost_ms=rng.random() * 3,
    )
    stacks = None
    if t % 5 == 4:
        stacks = StackWindow(
            t_start=t - 5, t_end=t, pid=4242, samples=500, gil_pct=rng.random() * 100, spy_cpu_pct=rng.random() * 5,
            functions=[FunctionShare(name=f"handler_{i} (app/views_{i % 4}.py:{100 + i})", own_pct=rng.random() * 30,
                                     total_pct=rng.random() * 90) for i in range(20)],
            threads=[ThreadState(tid=4242 + i, name=f"worker-{i}", samples=500, running_pct=rng.random() * 100,
                                 gil_pct=rng.random() * 100, waits={"lock": rng.random() * 50, "socket": rng.random()},
                                 top_wait="acquire (threading.py:320)") for i in range(16)],
        )
    sr = None
    if t % 3 == 2:
        sr = StepResult(step=step, phase="ramping", t_start=t - 3, t_end=t, offered_rps=rate, achieved_rps=rate * 0.99,
                        p50_ms=q[0], p90_ms=q[1], p99_ms=q[2], p999_ms=q[3], max_ms=q[3] * 2,
                        driver_cpu_pct=rng.random() * 60)
    return Frame(
        t=float(t), load=load, step=sr, node=node, target=_proc(rng, 4242, "python3", 16, rng.random() * 100),
        driver=_proc(rng, 4300, "bottlenecktop-driver", 2, rng.random() * 60),
        self_proc=_proc(rng, 4200, "bottlenecktop", 4, rng.random() * 3), stacks=stacks,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3600, help="ticks to write (1 Hz)")
    parser.add_argument("--second-hists", action="store_true",
                        help="keep every second's latency histogram in its frame (RecordingWriter second_hists)")
    args = parser.parse_args()
    rng = random.Random(7)
    frames = [realistic_frame(rng, t) for t in range(args.seconds)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.btrec"
        t0 = time.perf_counter()
        writer = RecordingWriter(path, realistic_header(), second_hists=args.second_hists)
        for frame in frames:
            writer.append(frame)
        writer.write_verdict(Verdict(capacity=Capacity(max_sustainable_rps=2900.0)))
        writer.close()
        write_s = time.perf_counter() - t0
        size = path.stat().st_size
        t0 = time.perf_counter()
        rec = read_recording(path)
        open_s = time.perf_counter() - t0
        assert len(rec.frames) == len(frames), (len(rec.frames), len(frames))
    print(f"{'measure':<28}{'value':>14}{'budget':>14}")
    print(f"{'ticks (1 Hz)':<28}{len(frames):>14}{'':>14}")
    print(f"{'per-second histograms':<28}{'kept' if args.second_hists else 'merged':>14}{'':>14}")
    print(f"{'file size, bytes':<28}{size:>14,}{SIZE_BUDGET:>14,}")
    print(f"{'bytes per tick':<28}{size / len(frames):>14,.0f}{'':>14}")
    print(f"{'write, ms per tick':<28}{write_s * 1000 / len(frames):>14.3f}{'':>14}")
    print(f"{'open (read_recording), s':<28}{open_s:>14.3f}{OPEN_BUDGET:>14.1f}")


if __name__ == "__main__":
    main()
