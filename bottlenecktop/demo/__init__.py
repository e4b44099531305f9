"""The demo target: a real HTTP server on 127.0.0.1 with one chosen, known bottleneck.

Kinds and their limits by construction (defaults; every knob is an option, ``key=value``):

- ``cpu``: ``workers`` processes (default: cores) share the port, each request burns ``work_ms`` (5) ms of CPU:
  min(workers, cores) x 1000 / work_ms req/s (2 cores: 400 req/s), every core busy.
- ``gil``: one process, ``workers`` (1) threads do ``work_ms`` (10) ms of pure-Python work per request under one
  GIL: 1000 / work_ms = 100 req/s whatever the thread count; one core pinned, the others idle.
- ``lock``: ``workers`` (4) semaphore slots around a ``work_ms`` (20) ms sleep: 4 x 1000 / 20 = 200 req/s, CPU idle.
- ``downstream``: each request calls a second local service with ``slots`` (4) slots of ``delay_ms`` (25) ms:
  4 x 1000 / 25 = 160 req/s; the target's threads wait on socket reads.
- ``disk``: ``size_bytes`` (8 MiB) written per request straight to the device (O_DIRECT, O_DSYNC; page cache
  plus O_DSYNC where O_DIRECT is refused), every request at once, into a file in a temp dir the demo makes
  (under ``dir``) and deletes: the device's write bandwidth and latency are the limit, not known in advance
  (about 270 req/s on a 2 GB/s virtual disk), the device ~100 % busy with a queue, little CPU.
- ``fds``: one file descriptor leaked per request under RLIMIT_NOFILE ``limit`` (256): requests fail with EMFILE
  (HTTP 500, and new connections wait unaccepted) after about limit - baseline fds - open connections requests.
- ``async-downstream``: one asyncio event loop; each request awaits a GET to a second local service of
  ``delay_ms`` (20) ms over at most ``concurrency`` (4) connections: 4 x 1000 / 20 = 200 req/s, the loop idle
  in epoll (no thread blocks on a socket: only tcp_info shows the calls outstanding).
- ``proxy``: nginx (one worker) in front of a second local service of ``slots`` (4) x ``delay_ms`` (20):
  200 req/s, nginx idle in epoll waiting on its upstream. Needs nginx.
- ``quota``: one process in a cgroup it makes with a CPU quota of ``quota_cpus`` (0.5), ``work_ms`` (10) ms of
  CPU per request: min(quota, 1) x 1000 / work_ms = 50 req/s while the node has idle cores. Needs a writable
  cgroup (v1 cpu, or v2 with +cpu); the cgroup goes on every exit path (see quota.py).
- ``leak``: keeps ``kib`` (256) KiB per request for good: memory is gone after MemAvailable / (kib x rate)
  seconds; past ``cap_mib`` (a quarter of available memory) it answers 507 instead of keeping more.
"""

from bottlenecktop.demo.kinds import DEMO_KINDS, parse_demo_options
from bottlenecktop.demo.launcher import DemoServer, start_demo

__all__ = ["DEMO_KINDS", "DemoServer", "parse_demo_options", "start_demo"]
