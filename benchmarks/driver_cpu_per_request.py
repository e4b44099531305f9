"""The driver's CPU per request at fixed open-model rates and under a saturated target, next to wrk's.

Each case runs the real driver process (``LoadDriver``, the same worker a ramp uses) at one fixed offered rate
for a warm-up plus a measured window, and reads its CPU (user + system, from /proc through psutil) over that
window only. Targets, all on 127.0.0.1 and pinned to CPU 1 (the driver and wrk to CPU 0):

- ``nginx``: worker_processes 1, a 3-byte body (service time tens of microseconds);
- ``node 5ms``: a one-thread Node.js server answering every request after ``setTimeout(..., 5)``, a fixed
  service time that needs rate x 5 ms connections;
- ``node saturated``: a one-thread Node.js server burning 0.3 ms of CPU per request, offered 1.3x what wrk gets
  from it at full speed (its capacity): connections grow to the cap and requests wait for one.

The table gives, per case: the driver's responses per second, its CPU per response (us), the p99 of its
schedule lag (how late the driver handed requests over against their intended time, ms; the worst second),
the share it handed over late (over 50 ms: the driver's own fault), the share that waited over 50 ms for a
connection (every connection up to the cap busy: the target's slowness), the connections it held, wrk's CPU
per request against the same target at full speed (wrk -t1 -c64), and how often the driver slept and woke per
response (its voluntary context switches, from /proc). The last lines give the floor under all of it:
what one sleep-and-wake of a bare ``time.sleep`` loop costs on this CPU at 100, 1,000 and 3,000 wakeups a
second (an open-model driver at a low rate wakes about twice per request: once to send, once for the reply),
of a bare uvloop loop waiting for one timer (the driver's loop with nothing to do) at 100 and 1,000, and of the
sleep loop in C when there is a C compiler (what a wakeup costs any program on this machine).

    .venv/bin/python benchmarks/driver_cpu_per_request.py [--seconds 5] [--rates 100,500,2000,10000,50000]
        [--profile DIR]   # also record each case with py-spy (raw folded stacks in DIR; CPU figures then skew)
        [--engine fast|curl] [--no-saturated]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
from driver_vs_wrk import bench_wrk, nginx, pin

from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.load.driver import LoadDriver
from bottlenecktop.probes.samples import LoadSecond

# One event-loop thread; BURN_MS of CPU per request, then the reply after DELAY_MS (a timer, no CPU).
NODE_SERVER = r"""
const http = require('http');
const [port, burnMs, delayMs] = process.argv.slice(2).map(Number);
const burnNs = BigInt(Math.round(burnMs * 1e6));
http.createServer((req, res) => {
  if (burnNs > 0n) { const end = process.hrtime.bigint() + burnNs; while (process.hrtime.bigint() < end) {} }
  const reply = () => { res.writeHead(200, {'Content-Type': 'text/plain', 'Content-Length': '3'}); res.end('ok\n'); };
  if (delayMs > 0) setTimeout(reply, delayMs); else reply();
}).listen(port, '127.0.0.1');
"""
WARMUP_S = 2.0  # connections open and the schedule settles before the measured window
SATURATE_FACTOR = 1.3  # the saturated case offers this multiple of the target's capacity


@dataclass
class Row:
    target: str
    offered_rps: float
    rps: float  # responses per second in the measured window
    cpu_us: float  # driver CPU per response, microseconds
    cpu_pct: float  # driver CPU, % of one core
    lag_p99_ms: float  # worst per-second p99 of the schedule lag
    late_share: float  # requests the driver handed over late / offered
    conn_late_share: float  # requests that waited over the late threshold for a connection / offered
    connections: int  # most connections open in a second
    wrk_us: float  # wrk's CPU per request against the same target at full speed
    wakeups: float = 0.0  # the driver's voluntary context switches (sleeps that ended) per response


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"the target on port {port} did not start")


@contextlib.contextmanager
def node(burn_ms: float, delay_ms: float) -> Iterator[str]:
    """A one-thread Node.js server on CPU 1; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="btv-node-") as d:
        script = Path(d) / "server.js"
        script.write_text(NODE_SERVER)
        port = free_port()
        proc = subprocess.Popen([*pin(1), "node", str(script), str(port), str(burn_ms), str(delay_ms)])
        try:
            wait_listening(port)
            yield f"http://127.0.0.1:{port}/"
        finally:
            proc.terminate()
            proc.wait(5)


def run_case(target: str, url: str, rate: float, seconds: float, wrk_us: float, profile: Path | None,
             engine: str = "auto") -> Row:
    """The driver at one fixed offered rate: its CPU and schedule over ``seconds`` after a warm-up."""
    total = WARMUP_S + seconds
    config = DriverConfig(
        url=url,
        start_rps=rate,
        max_rps=rate,
        step_seconds=total + 30.0,  # one step that outlasts the run: the rate never changes
        slo_p99_ms=3_600_000.0,  # never cut short: a saturated target is the point of one case
        max_error_rate=1.0,
        max_time=total + 1.0,
        t0=time.monotonic(),
        engine=engine,
    )
    driver = LoadDriver(config)
    pid = driver.start()
    proc = psutil.Process(pid)
    seconds_in: list[LoadSecond] = []
    spy: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(WARMUP_S)
        driver.poll()
        if profile is not None:
            out = profile / f"{target.replace(' ', '-')}-{rate:.0f}.txt"
            spy_argv = [str(Path(sys.executable).with_name("py-spy")), "record", "--nonblocking", "--rate", "1000",
                        "--format", "raw", "-o", str(out), "--pid", str(pid), "--duration", f"{seconds:.0f}"]
            spy = subprocess.Popen(spy_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu0, t0, cs0 = proc.cpu_times(), time.monotonic(), proc.num_ctx_switches()
        while time.monotonic() - t0 < seconds:
            time.sleep(0.2)
            seconds_in.extend(m for m in driver.poll() if isinstance(m, LoadSecond))
        cpu1, t1, cs1 = proc.cpu_times(), time.monotonic(), proc.num_ctx_switches()
    finally:
        driver.stop()
        if spy is not None:
            spy.wait(30)
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    full = [s for s in seconds_in if s.dt > 0.5]
    responses = sum(s.completed for s in full)
    window = sum(s.dt for s in full) or (t1 - t0)
    offered = sum(s.offered_rps * s.dt for s in full)
    return Row(
        target=target,
        offered_rps=rate,
        rps=responses / window,
        cpu_us=cpu / max(responses * (t1 - t0) / window, 1) * 1e6,
        cpu_pct=cpu / (t1 - t0) * 100.0,
        lag_p99_ms=max((s.lag_p99_ms for s in full), default=0.0),
        late_share=sum(s.late for s in full) / offered if offered else 0.0,
        conn_late_share=sum(s.conn_late for s in full) / offered if offered else 0.0,
        connections=max((s.connections for s in full), default=0),
        wrk_us=wrk_us,
        wakeups=(cs1.voluntary - cs0.voluntary) / max(responses * (t1 - t0) / window, 1),
    )


def wrk_cpu_us(url: str, seconds: float) -> tuple[float, float]:
    """wrk -t1 -c64 at full speed: (req/s, CPU us per request)."""
    rps, cpu = bench_wrk(url, seconds, 64)
    return rps, cpu * 1e6


# A bare Python loop that only sleeps, and a bare uvloop loop that only wakes for a timer (the driver's loop with
# nothing to do). getrusage, not os.times: clock ticks of 10 ms are too coarse for 300 wakeups.
WAKEUP_PROBE = """
import resource, sys, time
period = 1.0 / float(sys.argv[1]); n = int(3.0 / period)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
if sys.argv[2] == "uvloop":
    import asyncio, uvloop
    async def wake():
        loop = asyncio.get_running_loop()
        for _ in range(n):
            done = loop.create_future()
            loop.call_later(period, done.set_result, None)
            await done
    uvloop.install()
    c0 = cpu(); asyncio.run(wake()); c1 = cpu()
else:
    c0 = cpu()
    for _ in range(n):
        time.sleep(period)
    c1 = cpu()
print((c1 - c0) / n)
"""


# The same loop in C (nanosleep, getrusage): what a wakeup costs any program here, not Python's share of it.
WAKEUP_PROBE_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/resource.h>
int main(int argc, char **argv) {
  double hz = atof(argv[1]); long n = (long)(2.0 * hz);
  struct timespec ts = {0, (long)(1e9 / hz)};
  struct rusage a, b;
  getrusage(RUSAGE_SELF, &a);
  for (long i = 0; i < n; i++) nanosleep(&ts, NULL);
  getrusage(RUSAGE_SELF, &b);
  double us = (b.ru_utime.tv_sec - a.ru_utime.tv_sec + b.ru_stime.tv_sec - a.ru_stime.tv_sec) * 1e6
            + (b.ru_utime.tv_usec - a.ru_utime.tv_usec + b.ru_stime.tv_usec - a.ru_stime.tv_usec);
  printf("%.1f\n", us / n);
  return 0;
}
"""


def wakeup_floor_c_us(rates: tuple[int, ...]) -> list[float] | None:
    """The C loop's CPU (us) per sleep-and-wake on CPU 0 at each rate; None without a C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    with tempfile.TemporaryDirectory(prefix="btv-floor-") as d:
        src, exe = Path(d) / "floor.c", Path(d) / "floor"
        src.write_text(WAKEUP_PROBE_C)
        subprocess.run([cc, "-O2", "-o", str(exe), str(src)], check=True, capture_output=True)
        return [float(subprocess.run([*pin(0), str(exe), str(hz)], capture_output=True, text=True,
                                     check=True).stdout.strip()) for hz in rates]


def wakeup_floor_us(per_second: int, kind: str = "sleep") -> float:
    """CPU (us) of one sleep-and-wake of a bare Python loop (``sleep``) or uvloop loop (``uvloop``) on CPU 0,
    ``per_second`` times a second."""
    out = subprocess.run([*pin(0), sys.executable, "-c", WAKEUP_PROBE, str(per_second), kind],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip()) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per case (after a warm-up)")
    parser.add_argument("--rates", default="100,500,2000,10000,50000", help="offered rates against nginx, req/s")
    parser.add_argument("--node-rates", default="100,500,2000,10000", help="offered rates against node 5ms")
    parser.add_argument("--profile", type=Path, help="record each case with py-spy into this directory")
    parser.add_argument("--engine", default="auto", help="the driver's engine (auto, fast, curl); auto as a ramp")
    parser.add_argument("--no-saturated", action="store_true", help="skip the saturated case")
    args = parser.parse_args()
    for tool in ("nginx", "node", "wrk"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed; this benchmark needs it")
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {0})  # the driver process inherits CPU 0
    rates = [float(r) for r in args.rates.split(",") if r]
    node_rates = [float(r) for r in args.node_rates.split(",") if r]
    rows: list[Row] = []
    with nginx() as (url, _):
        _, wrk_us = wrk_cpu_us(url, args.seconds)
        rows.extend(run_case("nginx", url, rate, args.seconds, wrk_us, args.profile, args.engine)
                    for rate in rates)
    with node(0.0, 5.0) as url:
        _, wrk_us = wrk_cpu_us(url, args.seconds)
        rows.extend(run_case("node 5ms", url, rate, args.seconds, wrk_us, args.profile,
                             args.engine) for rate in node_rates)
    if not args.no_saturated:
        with node(0.3, 0.0) as url:
            capacity, wrk_us = wrk_cpu_us(url, args.seconds)
            rate = round(capacity * SATURATE_FACTOR, -1)
            rows.append(run_case("node saturated", url, rate, args.seconds, wrk_us, args.profile, args.engine))
    print(f"# driver CPU per request, {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(
        f"# {platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Linux {platform.release()}, Python {platform.python_version()}; targets on CPU 1, driver and wrk on "
        f"CPU 0, {WARMUP_S:g} s warm-up + {args.seconds:g} s measured per case"
        + f"; engine {args.engine}" + ("; py-spy attached (CPU skewed)" if args.profile else "")
    )
    print(
        f"{'target':15} {'offered/s':>10} {'resp/s':>9} {'CPU us/req':>11} {'CPU %':>6} {'lag p99 ms':>11} "
        f"{'late %':>7} {'conn-late %':>12} {'conns':>6} {'wrk us/req':>11} {'wakeups/req':>12}"
    )
    for r in rows:
        print(
            f"{r.target:15} {r.offered_rps:>10,.0f} {r.rps:>9,.0f} {r.cpu_us:>11.1f} {r.cpu_pct:>6.1f} "
            f"{r.lag_p99_ms:>11.1f} {r.late_share * 100:>7.2f} {r.conn_late_share * 100:>12.2f} {r.connections:>6} "
            f"{r.wrk_us:>11.1f} {r.wakeups:>12.2f}"
        )
    hz_list = (100, 1000, 3000)
    floors = ", ".join(f"{wakeup_floor_us(hz):.0f} us at {hz:,}/s" for hz in hz_list)
    print(f"# floor: one sleep-and-wake of a bare time.sleep loop costs {floors}")
    floors = ", ".join(f"{wakeup_floor_us(hz, 'uvloop'):.0f} us at {hz:,}/s" for hz in hz_list[:2])
    print(f"# floor in a bare uvloop loop (one timer, nothing else; its timers count whole ms): {floors}")
    c_floors = wakeup_floor_c_us(hz_list)
    if c_floors is not None:
        said = ", ".join(f"{us:.0f} us at {hz:,}/s" for us, hz in zip(c_floors, hz_list, strict=True))
        print(f"# floor in C (nanosleep): {said}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
