"""What the kernel wait sampler costs: this process's own CPU while a WaitSampler reads a real many-thread child,
and whether it ever makes a tick late.

The child holds THREADS threads in the waits a server has: half in Event.wait (futex), a quarter blocked in recv
on TCP sockets to a listener of its own, the rest in time.sleep, plus one in accept. The sampler runs on its own
thread as in a live run, and the main thread is the tick loop: once a second, on a fixed schedule, it takes the
aggregate and samples the child with a ProcessProbe as bottlenecktop/runner.py does (that probe reads two files
per thread, so it is the tick's own work that grows with the thread count and meets the sampler on the GIL).
CPU % core is the whole process (getrusage RUSAGE_SELF) over the window less the tick's ProcessProbe time: the
sampler thread, take() and the socket map refreshes. Largest gap is the longest time between two tick starts
(1.00 s when no tick is ever late), late ticks those that started more than 0.1 s after their time.

Run: .venv/bin/python benchmarks/wait_sampler_cost.py [--seconds 20] [--threads 50,200,1000,3000,10000]
Budget (issue 28): at most 2 % of one core at any thread count, and no late tick.
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
from bottlenecktop.probes.process import ProcessProbe
from bottlenecktop.probes.threads import WaitSampler

CHILD = """
import resource, socket, sys, threading, time
n, seconds = int(sys.argv[1]), float(sys.argv[2])
threading.stack_size(256 * 1024)  # 10,000 threads in a few GiB of address space, not 80
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = n + 256  # two fds per socket thread (a quarter of them)
if soft != resource.RLIM_INFINITY and soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
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

LATE_S = 0.1


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Row:
    def __init__(self) -> None:
        self.seen = 0
        self.hz = self.pct = self.own = self.ms = self.peer_ms = self.take_ms = self.gap = 0.0
        self.late = self.ticks = 0
        self.waits: dict[str, float] = {}


def measure(threads: int, seconds: float, proc_probe: bool) -> Row:
    with tempfile.NamedTemporaryFile("w", suffix="_waits_bench.py", delete=False) as f:
        f.write(CHILD)
    child = subprocess.Popen([sys.executable, f.name, str(threads), str(seconds + 60)], stdout=subprocess.PIPE,
                             text=True)
    out = Row()
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line[:1] == ["ready"], line
        time.sleep(0.5)
        probe = ProcessProbe(child.pid) if proc_probe else None
        if probe is not None:
            probe.sample()
        sampler = WaitSampler(child.pid, t0=time.monotonic())
        sampler.start()
        time.sleep(2.0)  # let the rates settle before measuring
        sampler.take()
        c0, t0 = _cpu(), time.monotonic()
        sweeps = 0
        own = 0.0  # the sampler thread's CPU seconds, as it reports them
        probe_cpu = 0.0  # the tick's ProcessProbe CPU (main thread): not the sampler's
        starts: list[float] = []
        for k in range(1, int(seconds) + 1):
            time.sleep(max(0.0, t0 + k - time.monotonic()))
            start = time.monotonic()
            starts.append(start)
            out.late += start - (t0 + k) > LATE_S
            s = sampler.take()
            out.take_ms = max(out.take_ms, (time.monotonic() - start) * 1e3)
            if probe is not None:
                p0 = time.thread_time()
                probe.sample()
                probe_cpu += time.thread_time() - p0
            if s is not None:
                sweeps += s.sweeps
                own += s.cost_pct / 100.0 * (s.t_end - s.t_start)
                out.seen, out.waits = int(s.threads), s.waits
        cpu, wall = _cpu() - c0 - probe_cpu, time.monotonic() - t0
        sampler.stop()
        out.ticks = len(starts)
        out.gap = max(b - a for a, b in zip([t0, *starts], starts, strict=False))
        out.hz, out.pct, out.own = sweeps / wall, 100.0 * cpu / wall, 100.0 * own / wall
        out.ms = cpu / max(1, sweeps) * 1e3
        peers = PeerProbe(child.pid)
        peers.sample()
        p0 = _cpu()
        for _ in range(5):
            peers.sample()
        out.peer_ms = (_cpu() - p0) / 5 * 1e3
        return out
    finally:
        child.kill()
        child.wait()
        os.unlink(f.name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="measuring window per row, seconds")
    ap.add_argument("--threads", default="50,200,1000,3000,10000", help="comma-separated thread counts of the child")
    ap.add_argument("--no-proc-probe", action="store_true", help="the tick only takes the aggregate")
    args = ap.parse_args()
    print(f"{'threads':>8} {'sweeps/s':>9} {'CPU % core':>11} {'thread %':>9} {'ms/sweep':>9} {'take ms':>8} "
          f"{'max gap s':>10} {'late':>5} {'peers ms/tick':>14}  waits seen")
    for n in (int(x) for x in args.threads.split(",")):
        r = measure(n, args.seconds, not args.no_proc_probe)
        shares = " ".join(f"{k} {v:.0f}%" for k, v in r.waits.items())
        print(f"{r.seen:>8} {r.hz:>9.2f} {r.pct:>11.2f} {r.own:>9.2f} {r.ms:>9.2f} {r.take_ms:>8.2f} {r.gap:>10.2f} "
              f"{r.late:>2}/{r.ticks:<2} {r.peer_ms:>14.2f}  {shares}", flush=True)


if __name__ == "__main__":
    main()
