"""What the kernel wait sampler costs: this process's own CPU while a WaitSampler sweeps a real many-thread child.

The child holds THREADS threads in the waits a server has: half in Event.wait (futex), a quarter blocked in recv
on TCP sockets to a listener of its own, the rest in time.sleep, plus one in accept. The sampler runs on its own
thread as in a live run, and the main thread takes the aggregate once a second as the tick loop does; the CPU is
the whole process's (getrusage RUSAGE_SELF) over the window, so it includes take() and the socket map refreshes.

Run: .venv/bin/python benchmarks/wait_sampler_cost.py [--seconds 20] [--threads 50,200,1000]
Budget (DESIGN.md): at most 2 % of one core for a 200-thread target.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

from bottlenecktop.probes.peers import PeerProbe
from bottlenecktop.probes.threads import WaitSampler

CHILD = """
import socket, sys, threading, time
n, seconds = int(sys.argv[1]), float(sys.argv[2])
ev = threading.Event()
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1024)
kept = []
def recv_on(c):
    c.settimeout(seconds)
    try:
        c.recv(10)
    except OSError:
        pass
n_sock = n // 4
for _ in range(n_sock):
    c = socket.create_connection(srv.getsockname())
    kept.append((c, srv.accept()[0]))
    threading.Thread(target=recv_on, args=(c,), daemon=True).start()
for _ in range(n // 2):
    threading.Thread(target=ev.wait, args=(seconds,), daemon=True).start()
for _ in range(n - n_sock - n // 2 - 2):
    threading.Thread(target=time.sleep, args=(seconds,), daemon=True).start()
threading.Thread(target=srv.accept, daemon=True).start()
print("ready", threading.active_count(), flush=True)
time.sleep(seconds)
"""


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(threads: int, seconds: float) -> tuple[int, float, float, float, float, float, dict[str, float]]:
    """(threads seen, sweeps/s, process CPU % of one core, the sampler thread's own share of it, CPU ms per
    sweep, peers ms per tick, wait shares)."""
    with tempfile.NamedTemporaryFile("w", suffix="_waits_bench.py", delete=False) as f:
        f.write(CHILD)
    child = subprocess.Popen([sys.executable, f.name, str(threads), str(seconds + 30)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line[:1] == ["ready"], line
        time.sleep(0.5)
        sampler = WaitSampler(child.pid, t0=time.monotonic())
        sampler.start()
        time.sleep(2.0)  # let the sweep rate settle before measuring
        sampler.take()
        c0, t0 = _cpu(), time.monotonic()
        sweeps = 0
        own = 0.0  # the sampler thread's CPU seconds, as it reports them
        seen = 0.0
        waits: dict[str, float] = {}
        for _ in range(int(seconds)):
            time.sleep(1.0)
            s = sampler.take()
            if s is not None:
                sweeps += s.sweeps
                own += s.cost_pct / 100.0 * (s.t_end - s.t_start)
                seen, waits = s.threads, s.waits
        cpu, wall = _cpu() - c0, time.monotonic() - t0
        sampler.stop()
        peers = PeerProbe(child.pid)
        peers.sample()
        p0 = _cpu()
        for _ in range(20):
            peers.sample()
        peer_ms = (_cpu() - p0) / 20 * 1e3
        return (int(seen), sweeps / wall, 100.0 * cpu / wall, 100.0 * own / wall, cpu / max(1, sweeps) * 1e3, peer_ms,
                waits)
    finally:
        child.kill()
        child.wait()
        os.unlink(f.name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="measuring window per row, seconds")
    ap.add_argument("--threads", default="50,200,1000", help="comma-separated thread counts of the child")
    args = ap.parse_args()
    print(f"{'threads':>8} {'sweeps/s':>9} {'CPU % core':>11} {'thread %':>9} {'ms/sweep':>9} {'peers ms/tick':>14}"
          "  waits seen")
    for n in (int(x) for x in args.threads.split(",")):
        seen, hz, pct, own, ms, peer_ms, waits = measure(n, args.seconds)
        shares = " ".join(f"{k} {v:.0f}%" for k, v in waits.items())
        print(f"{seen:>8} {hz:>9.2f} {pct:>11.2f} {own:>9.2f} {ms:>9.2f} {peer_ms:>14.2f}  {shares}", flush=True)


if __name__ == "__main__":
    main()
