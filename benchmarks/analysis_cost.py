"""What the analysis costs: live_status (called every tick) and build_verdict (once, at the end) on a
realistic 600-frame timeline (10 minutes at 1 Hz, every probe on, a stack window every 3 s; kernel waits with
a downstream peer, tcp_info peers and the cgroup in every frame).

Run: python benchmarks/analysis_cost.py   (budget: live_status well under 1 ms)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bottlenecktop.analysis.verdict import build_verdict, live_status
from bottlenecktop.probes.samples import NetSample, TcpSample
from tests.support.timeline_builder import (
    TimelineBuilder,
    cgroup,
    disk,
    driver,
    header,
    node,
    peers,
    proc,
    stacks,
    waits,
)

FRAMES = 600


def timeline(nthreads: int = 32, kernel: bool = True) -> TimelineBuilder:
    """``nthreads``: threads in each stack window (a thread-per-connection server has hundreds); ``kernel``:
    frames carry kernel waits, peers and the cgroup (False: as recorded before those probes)."""
    b = TimelineBuilder(header(ncpu=8))
    threads = [(f"Thread-{k}", 40, {"socket": 60.0, "lock": 20.0}, "readinto (socket.py:707)")
               for k in range(nthreads)]
    win = stacks(threads, gil=60, functions=[(f"f{k} (app.py:{k})", 20 - k, 40) for k in range(20)])
    rate = 50.0
    while len(b.frames) < FRAMES:
        busy = min(99.0, rate / 20)
        b.step(rate, p99=5 + rate / 100, seconds=3, stacks=win,
               node=node(busy=busy, ncpu=8, psi=busy / 4, runq=int(busy / 10), disks=disk(busy / 2, 0.5),
                         nets={"eth0": NetSample(tx_bps=rate * 1e4, speed_mbps=10000), "lo": NetSample()},
                         tcp=TcpSample(out_segs=rate * 10, accept_queue=1, accept_backlog=128)),
               target=proc(cpu=busy * 6, threads=[(f"t{k}", busy / 2) for k in range(16)]), driver=driver(cpu=30),
               self_proc=proc(pid=99, cpu=3), **(kernel_parts(nthreads, busy) if kernel else {}))
        rate *= 1.02
    return b


def kernel_parts(nthreads: int, busy: float) -> dict[str, Any]:
    """A thread-per-request server waiting on PostgreSQL, as the kernel probes see it."""
    return dict(waits=waits(threads=nthreads, socket=nthreads * 0.5, futex=nthreads * 0.2, running=nthreads * 0.2,
                           idle=nthreads * 0.1, peers=[("127.0.0.1:5432", "downstream", nthreads * 0.4),
                                                       ("clients of :8000", "client", nthreads * 0.1)]),
               peers=peers([("127.0.0.1:5432", 16, 4), ("127.0.0.1:6379", 8, 1)], [(8000, 64, 20)],
                           owners={"127.0.0.1:5432": (812, "postgres")}),
               cgroup=cgroup("/app", quota=None, usage=busy / 20, throttled=0.0))


def cost_ms(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, max) wall milliseconds per call over ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2], times[-1]


def main() -> None:
    print(f"{'function':<15}{'frames':>8}{'threads':>9}{'kernel':>8}{'median ms':>12}{'max ms':>10}")
    for nthreads in (32, 300):
        for kernel in (False, True):
            b = timeline(nthreads, kernel)
            frames = b.frames[:FRAMES]
            rows = [("live_status", *cost_ms(lambda: live_status(b.header, frames), 500)),  # noqa: B023
                    ("build_verdict", *cost_ms(lambda: build_verdict(b.header, frames, goal_rps=1e4), 10))]  # noqa: B023
            for name, med, worst in rows:
                said = "yes" if kernel else "no"
                print(f"{name:<15}{len(frames):>8}{nthreads:>9}{said:>8}{med:>12.3f}{worst:>10.3f}")


if __name__ == "__main__":
    main()
