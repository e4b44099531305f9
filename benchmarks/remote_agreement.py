"""How closely node_exporter's figures match the local node probe on the same box, and what a scrape costs.

Starts Debian's prometheus-node-exporter on 127.0.0.1 (a free port), burns the cores with N+1 spinning
processes, and samples the local NodeProbe and the exporter back to back every interval. Prints, per
interval, CPU busy % and PSI cpu some % from both and their difference; then the CPU one scrape costs us.

Run (under the shared lock): flock /tmp/bottlenecktop-load.lock .venv/bin/python benchmarks/remote_agreement.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from bottlenecktop.probes.remote.exporter import ExporterScraper
from bottlenecktop.probes.system import NodeProbe
from tests.support.exporters import node_exporter

SPIN = "import time, sys\nd = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < d: pass\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--intervals", type=int, default=10)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--burners", type=int, default=(os.cpu_count() or 1) + 1)
    args = ap.parse_args()
    seconds = args.intervals * args.interval + 5
    with node_exporter() as url:
        scraper = ExporterScraper(url)
        local = NodeProbe()
        procs = [subprocess.Popen([sys.executable, "-c", SPIN, str(seconds)]) for _ in range(args.burners)]
        try:
            time.sleep(1.0)
            local.sample()
            scraper.scrape()
            rows = []
            for _ in range(args.intervals):
                time.sleep(args.interval)
                a = local.sample()
                c0 = time.thread_time()
                b = scraper.scrape()
                cost = (time.thread_time() - c0) * 1000
                assert b.node is not None, b
                rows.append((a.cpu.busy_pct, b.node.cpu.busy_pct, a.cpu.psi_some or 0.0,
                             b.node.cpu.psi_some or 0.0, cost))
        finally:
            for p in procs:
                p.kill()
                p.wait()
    print(f"{'local busy':>10} {'remote busy':>11} {'diff':>6} | {'local psi':>9} {'remote psi':>10} {'diff':>6}")
    for lb, rb, lp, rp, _ in rows:
        print(f"{lb:10.1f} {rb:11.1f} {rb - lb:6.2f} | {lp:9.1f} {rp:10.1f} {rp - lp:6.2f}")
    busy = [abs(r[1] - r[0]) for r in rows]
    psi = [abs(r[3] - r[2]) for r in rows]
    print(f"busy %: mean |diff| {statistics.mean(busy):.2f} points, max {max(busy):.2f}")
    print(f"PSI cpu some %: mean |diff| {statistics.mean(psi):.2f} points, max {max(psi):.2f}")
    print(f"one node_exporter scrape: {statistics.median(r[4] for r in rows):.1f} ms CPU (median), "
          f"{statistics.median(r[4] for r in rows) / args.interval / 10:.2f} % of one core at this interval")


if __name__ == "__main__":
    main()
