"""What --metrics-listen costs: the tick thread's hand-over of each frame plus serving a scrape every second
(live_status included), as % of one core, in this process.

Two phases of SECONDS each over the same synthetic session (a realistic timeline as in analysis_cost.py: every
probe on, stack windows, kernel waits, peers, cgroup; HISTORY frames already on it, so live_status works over a
10-minute run), fed one frame a second from a thread as the runner's tick loop does:
- baseline: the feed alone, no endpoint;
- endpoint: the feed, the endpoint, and a scraper thread that GETs it every second as Prometheus does (asking
  for OpenMetrics, a new connection each time).
The endpoint's cost = (the process's CPU with it - the scraper thread's own CPU, which is Prometheus's, not
ours) - the baseline's CPU, over the phase's wall time. Budget: under 0.5 % of one core.

Run: .venv/bin/python -m benchmarks.metrics_endpoint_cost [--seconds 60] [--history 600]
"""

from __future__ import annotations

import argparse
import resource
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from bottlenecktop.metrics_endpoint import ListenAddress, MetricsEndpoint
from bottlenecktop.probes.samples import NetSample, TcpSample
from bottlenecktop.session import Frame, Session
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

BUDGET_PCT = 0.5
ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"  # Prometheus's first choice


def timeline(frames: int, nthreads: int = 32) -> TimelineBuilder:
    """A ramp at 1 Hz with every probe on (analysis_cost.py's shape: a thread-per-request server waiting on
    PostgreSQL), at least ``frames`` long."""
    b = TimelineBuilder(header(ncpu=8))
    threads = [(f"Thread-{k}", 40, {"socket": 60.0, "lock": 20.0}, "readinto (socket.py:707)")
               for k in range(nthreads)]
    win = stacks(threads, gil=60, functions=[(f"f{k} (app.py:{k})", 20 - k, 40) for k in range(20)])
    rate = 50.0
    while len(b.frames) < frames:
        busy = min(99.0, rate / 20)
        parts: dict[str, Any] = dict(
            waits=waits(threads=nthreads, socket=nthreads * 0.5, futex=nthreads * 0.2, running=nthreads * 0.2,
                        idle=nthreads * 0.1, peers=[("127.0.0.1:5432", "downstream", nthreads * 0.4)]),
            peers=peers([("127.0.0.1:5432", 16, 4)], [(8000, 64, 20)], owners={"127.0.0.1:5432": (812, "postgres")}),
            cgroup=cgroup("/app", quota=None, usage=busy / 20, throttled=0.0))
        b.step(rate, p99=5 + rate / 100, seconds=3, stacks=win, errors={"timeout": 1} if rate > 500 else None,
               node=node(busy=busy, ncpu=8, psi=busy / 4, runq=int(busy / 10), disks=disk(busy / 2, 0.5),
                         nets={"eth0": NetSample(tx_bps=rate * 1e4, speed_mbps=10000), "lo": NetSample()},
                         tcp=TcpSample(out_segs=rate * 10, accept_queue=1, accept_backlog=128)),
               target=proc(cpu=busy * 6, threads=[(f"t{k}", busy / 2) for k in range(16)]), driver=driver(cpu=30),
               self_proc=proc(pid=99, cpu=3), **parts)
        rate *= 1.01
    return b


@dataclass
class Phase:
    wall_s: float = 0.0
    process_cpu_s: float = 0.0
    append_cpu_s: float = 0.0  # the feed thread's CPU inside session.append (the listeners), summed
    scraper_cpu_s: float = 0.0  # the scraper thread's own CPU (Prometheus's side)
    scrapes: int = 0
    failed: int = 0
    status_cpu_s: float = 0.0
    status_count: int = 0
    ticks: int = 0


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_phase(b: TimelineBuilder, history: int, seconds: float, with_endpoint: bool) -> Phase:
    session = Session(b.header)
    for frame in b.frames[:history]:
        session.append(frame)
    feed: list[Frame] = b.frames[history:]
    endpoint = MetricsEndpoint(ListenAddress("127.0.0.1", 0)) if with_endpoint else None
    if endpoint is not None:
        endpoint.start(session)
    out = Phase()
    stop = threading.Event()

    def feeder() -> None:
        next_at = time.monotonic()
        for frame in feed:
            next_at += 1.0
            if stop.wait(max(0.0, next_at - time.monotonic())):
                return
            c0 = time.thread_time()
            session.append(frame)
            out.append_cpu_s += time.thread_time() - c0
            out.ticks += 1

    def scraper() -> None:
        assert endpoint is not None
        request = urllib.request.Request(endpoint.url, headers={"Accept": ACCEPT})
        next_at = time.monotonic() + 0.5  # half a tick after the feed, as an unsynchronised Prometheus would be
        while not stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += 1.0
            c0 = time.thread_time()
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    response.read()
                out.scrapes += 1
            except OSError:
                out.failed += 1
            out.scraper_cpu_s += time.thread_time() - c0

    threads = [threading.Thread(target=feeder, name="feed")]
    if endpoint is not None:
        threads.append(threading.Thread(target=scraper, name="scraper"))
    cpu0, wall0 = _cpu(), time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(10.0)
    out.process_cpu_s, out.wall_s = _cpu() - cpu0, time.monotonic() - wall0
    if endpoint is not None:
        out.status_cpu_s, out.status_count = endpoint.status_cpu_total_s, endpoint.status_count
        endpoint.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase (default 60)")
    parser.add_argument("--history", type=int, default=600, help="frames already on the timeline (default 600)")
    args = parser.parse_args()
    b = timeline(args.history + int(args.seconds) + 10)
    run_phase(b, args.history, 3.0, with_endpoint=True)  # warm up: imports, first live_status, sockets
    base = run_phase(b, args.history, args.seconds, with_endpoint=False)
    with_ep = run_phase(b, args.history, args.seconds, with_endpoint=True)
    ours = with_ep.process_cpu_s - with_ep.scraper_cpu_s - base.process_cpu_s
    pct = ours / with_ep.wall_s * 100
    hand_over_us = (with_ep.append_cpu_s / max(1, with_ep.ticks) - base.append_cpu_s / max(1, base.ticks)) * 1e6
    status_ms = with_ep.status_cpu_s / max(1, with_ep.status_count) * 1000
    per_scrape_ms = ours / max(1, with_ep.scrapes) * 1000
    print(f"{'phase':<10}{'wall s':>8}{'ticks':>7}{'scrapes':>9}{'process CPU s':>15}{'scraper CPU s':>15}")
    for name, p in (("baseline", base), ("endpoint", with_ep)):
        print(f"{name:<10}{p.wall_s:>8.1f}{p.ticks:>7}{p.scrapes:>9}{p.process_cpu_s:>15.3f}{p.scraper_cpu_s:>15.3f}")
    print(f"history {args.history} frames; scrapes failed: {with_ep.failed}")
    print(f"tick-thread hand-over: {hand_over_us:.1f} us per frame (the listener, over the baseline's append)")
    print(f"live_status for the endpoint: {status_ms:.2f} ms CPU each, {with_ep.status_count} computed for "
          f"{with_ep.scrapes} scrapes")
    print(f"endpoint, all in: {per_scrape_ms:.2f} ms CPU per scrape-second = {pct:.3f} % of one core "
          f"(budget < {BUDGET_PCT} %): {'met' if pct < BUDGET_PCT else 'NOT met'}")


if __name__ == "__main__":
    main()
