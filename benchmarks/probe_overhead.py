"""What the probes cost: CPU of NodeProbe + ProcessProbe at 1 Hz, and how much py-spy slows a CPU-bound target.

Run: .venv/bin/python benchmarks/probe_overhead.py [--ticks 20] [--phase 3]
Budgets (DESIGN.md): probes without py-spy under 1 % of one core at 1 Hz; py-spy slows the target under 5 %.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from bottlenecktop.probes.process import ProcessProbe
from bottlenecktop.probes.stacks import StackProbe
from bottlenecktop.probes.system import NodeProbe

# a target with 16 idle threads (a typical threaded server) for the process probe
THREADED = """
import threading, time, sys
ev = threading.Event()
for i in range(16):
    threading.Thread(target=ev.wait, args=(float(sys.argv[1]),), daemon=True).start()
print("ready", flush=True)
time.sleep(float(sys.argv[1]))
"""

# CPU-bound work for a fixed wall time; prints iterations and its own CPU seconds
WORK = """
import sys, time
def work(deadline):
    n = 0
    while time.monotonic() < deadline:
        for _ in range(10000):
            n += 1
    return n
print("ready", flush=True)
t0, c0 = time.monotonic(), time.process_time()
n = work(t0 + float(sys.argv[1]))
print(n, time.process_time() - c0, time.monotonic() - t0, flush=True)
"""


def _spawn(script: str, seconds: float) -> subprocess.Popen[str]:
    with tempfile.NamedTemporaryFile("w", suffix="_bench.py", delete=False) as f:
        f.write(script)
    proc = subprocess.Popen([sys.executable, f.name, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def sampling_cost(ticks: int, interval: float) -> list[tuple[str, float, float, float]]:
    """[(what, mean ms, p95 ms, % of one core at 1 Hz)] over TICKS samples INTERVAL seconds apart."""
    target = _spawn(THREADED, ticks * interval + 10)
    try:
        node = NodeProbe(listen_port=22)
        proc = ProcessProbe(target.pid)
        node.sample()
        proc.sample()
        costs: dict[str, list[float]] = {"node (no process list)": [], "node (with top_procs)": [],
                                         "process (17 threads)": []}
        for _ in range(ticks):
            time.sleep(interval)
            s = node.sample()
            costs["node (with top_procs)" if s.top_procs else "node (no process list)"].append(s.cost_ms)
            c0 = time.thread_time()
            proc.sample()
            costs["process (17 threads)"].append((time.thread_time() - c0) * 1000)
    finally:
        target.kill()
        target.wait()
    rows = []
    for name, vals in costs.items():
        if vals:
            p95 = sorted(vals)[max(0, int(len(vals) * 0.95) - 1)]
            rows.append((name, statistics.mean(vals), p95, statistics.mean(vals) / 10.0))
    # what a tick costs on average: top_procs runs every 5th sample
    n = costs["node (no process list)"] + costs["node (with top_procs)"]
    per_tick = statistics.mean(n) + statistics.mean(costs["process (17 threads)"])
    rows.append(("node + process, per 1 Hz tick", per_tick, float("nan"), per_tick / 10.0))
    return rows


def _run_work(seconds: float, spy: bool, rate_hz: float) -> tuple[float, float, float]:
    """(iterations per wall second, iterations per CPU second, py-spy CPU % of one core)."""
    proc = _spawn(WORK, seconds)
    probe = None
    if spy:
        probe = StackProbe(proc.pid, rate_hz=rate_hz)
        probe.start()
        if probe.error:
            raise SystemExit(probe.error)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    spy_cpu = 0.0
    if probe is not None:
        window = probe.take_window(seconds)
        probe.stop()
        spy_cpu = window.spy_cpu_pct if window else 0.0
    proc.wait()
    n, cpu, wall = (float(x) for x in line.split())
    return n / wall, n / cpu, spy_cpu


def spy_slowdown(phase: float, rounds: int, rate_hz: float) -> dict[str, float]:
    """Alternate runs without and with py-spy (ROUNDS pairs of PHASE seconds) to cancel drift on a shared box."""
    off: list[tuple[float, float, float]] = []
    on: list[tuple[float, float, float]] = []
    for _ in range(rounds):
        off.append(_run_work(phase, False, rate_hz))
        on.append(_run_work(phase, True, rate_hz))
    wall_off = statistics.median(r[0] for r in off)
    wall_on = statistics.median(r[0] for r in on)
    cpu_off = statistics.median(r[1] for r in off)
    cpu_on = statistics.median(r[1] for r in on)
    return {
        "slowdown_wall_pct": 100.0 * (1 - wall_on / wall_off),
        "slowdown_per_cpu_pct": 100.0 * (1 - cpu_on / cpu_off),
        "spy_cpu_pct": statistics.median(r[2] for r in on),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=20, help="samples for the sampling cost (1 s apart)")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    ap.add_argument("--phase", type=float, default=3.0, help="seconds per py-spy on/off run")
    ap.add_argument("--rounds", type=int, default=3, help="on/off pairs")
    ap.add_argument("--rates", default="20,50,100", help="py-spy record rates to try, Hz")
    args = ap.parse_args()

    print("Sampling cost (CPU of the calling thread per sample)")
    print(f"{'probe':34} {'mean ms':>8} {'p95 ms':>8} {'% core @1Hz':>12}")
    for name, mean, p95, pct in sampling_cost(args.ticks, args.interval):
        print(f"{name:34} {mean:8.3f} {p95:8.3f} {pct:12.3f}")
    print("budget: under 1 % of one core at 1 Hz")
    print()
    print(f"py-spy on a CPU-bound target ({args.rounds} x {args.phase:g} s off/on, medians; dumps at 1 Hz)")
    print(f"{'record rate Hz':>14} {'slowdown wall %':>16} {'slowdown/CPU s %':>17} {'py-spy % core':>14}")
    for rate in (float(r) for r in args.rates.split(",")):
        r = spy_slowdown(args.phase, args.rounds, rate)
        print(f"{rate:14g} {r['slowdown_wall_pct']:16.2f} {r['slowdown_per_cpu_pct']:17.2f} {r['spy_cpu_pct']:14.2f}")
    print("budget: py-spy slows the target by under 5 % (negative = noise, the target ran faster)")


if __name__ == "__main__":
    main()
