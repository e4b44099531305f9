"""How cheap is the load driver? Its engines next to wrk, on the same nginx, in the same run.

nginx (worker_processes 1, a 3-byte body, its own temporary config) is pinned to CPU 1 and every client to
CPU 0 with taskset; each client keeps 32 keep-alive connections busy for a fixed time (over HTTP/2, 32 requests
outstanding on one multiplexed connection, to a second nginx port that speaks h2c). The table gives
requests per second, the client's CPU per request, and the ratio to wrk in requests per CPU-second of the
client (per core), which is the figure that matters when the driver shares a box with its target.

    .venv/bin/python benchmarks/driver_vs_wrk.py [--seconds 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = """worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok\\n"; }} }}
  server {{ listen 127.0.0.1:{h2c_port} http2; location / {{ return 200 "ok\\n"; }} }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and (os.cpu_count() or 1) > cpu else []


@contextlib.contextmanager
def nginx(cpu: int | None = 1) -> Iterator[tuple[str, str]]:
    """nginx (pinned to ``cpu`` unless None) on two ports: (HTTP/1.1 URL, HTTP/2 cleartext URL)."""
    with tempfile.TemporaryDirectory(prefix="btv-nginx-") as d:
        port, h2c_port = free_port(), free_port()
        conf = Path(d) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(d=d, port=port, h2c_port=h2c_port))
        proc = subprocess.Popen(
            [*(pin(cpu) if cpu is not None else []), "nginx", "-c", str(conf), "-p", d],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.05)
            else:
                raise SystemExit("nginx did not start")
            yield f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{h2c_port}/"
        finally:
            proc.terminate()
            proc.wait(5)


def run_child(argv: list[str]) -> tuple[str, float]:
    """Run a client to completion; return its stdout and the CPU seconds it used (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out.stdout, cpu


def bench_wrk(url: str, seconds: float, connections: int) -> tuple[float, float]:
    out, cpu = run_child([*pin(0), "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", url])
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rps, cpu / (rps * seconds)


def bench_engine(url: str, seconds: float, connections: int, *flags: str) -> tuple[float, float]:
    argv = [*pin(0), sys.executable, str(ROOT / "benchmarks" / "closed_loop.py"), url, f"--connections={connections}"]
    out, _ = run_child([*argv, f"--seconds={seconds:g}", *flags])
    result = json.loads(out.strip().splitlines()[-1])
    # CPU of the measured window only (the child's own count), not its start-up and imports.
    return result["requests"] / result["seconds"], result["cpu_seconds"] / max(result["requests"], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("nginx"):
        raise SystemExit("nginx is not installed; this benchmark needs it (apt-get install nginx)")
    rows: list[tuple[str, float, float]] = []
    with nginx() as (url, h2c_url):
        if shutil.which("wrk"):
            rows.append(("wrk -t1", *bench_wrk(url, args.seconds, args.connections)))
        rows.append(("fast (uvloop + httptools)", *bench_engine(url, args.seconds, args.connections)))
        rows.append(("fast (plain asyncio)", *bench_engine(url, args.seconds, args.connections, "--no-uvloop")))
        rows.append(
            ("curl HTTP/1.1 (pycurl multi)", *bench_engine(url, args.seconds, args.connections, "--engine=curl"))
        )
        rows.append(
            (
                "curl HTTP/2 h2c (1 conn)",
                *bench_engine(h2c_url, args.seconds, args.connections, "--engine=curl", "--http2"),
            )
        )
    print(f"# driver vs wrk, {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(
        f"# {platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Linux {platform.release()}, Python {platform.python_version()}; nginx on CPU 1, clients on CPU 0, "
        f"{args.connections} connections, {args.seconds:g} s each"
    )
    wrk_per_cpu = 1.0 / rows[0][2] if rows[0][0].startswith("wrk") else None
    print(f"{'engine':30} {'req/s':>10} {'CPU us/req':>11} {'req per CPU-s':>14} {'ratio to wrk':>13}")
    for name, rps, cpu_per_req in rows:
        per_cpu = 1.0 / cpu_per_req if cpu_per_req > 0 else float("inf")
        ratio = f"{per_cpu / wrk_per_cpu:.2f}x" if wrk_per_cpu else "-"
        print(f"{name:30} {rps:>10,.0f} {cpu_per_req * 1e6:>11.1f} {per_cpu:>14,.0f} {ratio:>13}")


if __name__ == "__main__":
    main()
