"""Merged req/s of one and of two load agents (Dask LocalCluster, --agents N) against nginx, next to wrk.

nginx (worker_processes 1, a 3-byte body) runs on 127.0.0.1; wrk keeps 32 keep-alive connections busy for a
fixed time; each agent run is a fixed-rate open-model step (the ramp capped at ``--rate``, far above what one
box sends) and reports the merged ok responses per second over the judged seconds, each agent's share and its
driver's CPU. Nothing is pinned: on a 2-core box nginx, wrk and the agents share the cores, as they would with
``--agents`` on the target's own host; the figure is what this box sends, not what a load host would.

    .venv/bin/python benchmarks/agents_vs_wrk.py [--seconds 5] [--rate 60000]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import time

from driver_vs_wrk import nginx

from bottlenecktop.probes.load.cluster.driver import ClusterDriver
from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.samples import LoadSecond, StepResult


def bench_wrk(url: str, seconds: float, connections: int) -> float:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", url], capture_output=True,
                         text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else 0.0


def bench_agents(url: str, agents: int, seconds: float, rate: float) -> tuple[float, list[str]]:
    """(merged ok req/s over the first judged step, one line per agent)."""
    config = DriverConfig(url=url, start_rps=rate, max_rps=rate, step_seconds=seconds, confirm_seconds=seconds,
                          max_time=seconds + 6.0, t0=time.monotonic())
    driver = ClusterDriver(config, agents=agents)
    driver.start()
    step: StepResult | None = None
    seconds_seen: list[LoadSecond] = []
    deadline = time.monotonic() + seconds * 3 + 30
    try:
        while step is None and not driver.done and time.monotonic() < deadline:
            for message in driver.poll():
                if isinstance(message, StepResult) and step is None:
                    step = message
                elif isinstance(message, LoadSecond):
                    seconds_seen.append(message)
            time.sleep(0.1)
    finally:
        driver.stop()
    if step is None:
        return 0.0, ["no step finished"]
    judged = [s for s in seconds_seen if step.t_start + 1.5 < s.t <= step.t_end + 0.01]
    lines = []
    for n in range(agents):
        mine = [a for s in judged for a in s.agents if a.agent == n]
        if mine:
            ok = sum(a.achieved_rps for a in mine) / len(mine)
            cpu = sum(a.cpu_pct for a in mine) / len(mine)
            late = sum(a.late for a in mine)
            lines.append(f"    agent {n}: {ok:9.0f} req/s  driver CPU {cpu:5.0f} %  late {late}")
    return step.achieved_rps, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=60000.0, help="offered req/s of the agents' step")
    parser.add_argument("--connections", type=int, default=32, help="wrk's connections")
    args = parser.parse_args()
    with nginx(cpu=None) as (url, _):
        rows: list[tuple[str, float, list[str]]] = []
        if shutil.which("wrk"):
            rows.append((f"wrk -t1 -c{args.connections}", bench_wrk(url, args.seconds, args.connections), []))
        for agents in (1, 2):
            rps, lines = bench_agents(url, agents, args.seconds, args.rate)
            rows.append((f"--agents {agents} (offered {args.rate:.0f})", rps, lines))
    print(f"# load agents vs wrk, {datetime.datetime.now().isoformat(timespec='seconds')}, "
          f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{'client':34} {'req/s':>10}")
    for name, rps, lines in rows:
        print(f"{name:34} {rps:10.0f}")
        for line in lines:
            print(line)


if __name__ == "__main__":
    main()
