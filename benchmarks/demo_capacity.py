"""Each demo kind's constructed capacity next to what wrk achieves against it, and the server's own cost.

Run: python benchmarks/demo_capacity.py [--seconds 5] [--connections 32]
Prints one row per kind: capacity by construction (req/s), achieved (req/s), non-2xx responses, the demo
processes' CPU (cores) and their CPU per request (microseconds). The `overhead` row is the lock kind with no
wait (work_ms=0) and 10,000 slots: what the HTTP server itself costs per request.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import time

import psutil

from bottlenecktop.demo import start_demo

CASES: list[tuple[str, str, dict[str, str]]] = [
    ("overhead", "lock", {"workers": "10000", "work_ms": "0"}),
    ("cpu", "cpu", {}),
    ("gil", "gil", {}),
    ("gil x4 threads", "gil", {"workers": "4"}),
    ("lock", "lock", {}),
    ("lock x8 workers", "lock", {"workers": "8"}),
    ("downstream", "downstream", {}),
    ("disk", "disk", {}),
]


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        t = psutil.Process(pid).cpu_times()
        total += t.user + t.system
    return total


def wrk(url: str, seconds: float, connections: int) -> tuple[float, int, int]:
    """(req/s, requests, non-2xx) from one wrk run."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, requests, int(bad.group(1)) if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    print(f"{'case':<16} {'capacity':>9} {'achieved':>9} {'ratio':>6} {'non-2xx':>8} {'cores':>6} {'us/req':>7}")
    for label, kind, options in CASES:
        demo = start_demo(kind, options)
        try:
            cpu0, t0 = cpu_seconds(demo.pids), time.monotonic()
            rps, requests, bad = wrk(demo.url, args.seconds, args.connections)
            cores = (cpu_seconds(demo.pids) - cpu0) / (time.monotonic() - t0)
            per_req = (cpu_seconds(demo.pids) - cpu0) / max(1, requests) * 1e6
        finally:
            demo.stop()
        cap = demo.capacity_rps
        cap_s = "-" if cap is None else f"{cap:.0f}"
        ratio = "-" if cap is None else f"{rps / cap:.2f}"
        print(f"{label:<16} {cap_s:>9} {rps:>9.0f} {ratio:>6} {bad:>8} {cores:>6.2f} {per_req:>7.0f}")


if __name__ == "__main__":
    main()
