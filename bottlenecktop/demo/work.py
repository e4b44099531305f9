"""What each demo kind does per request: the designed bottleneck, and nothing else."""

from __future__ import annotations

import itertools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bottlenecktop.demo.server import Work

OK = b"ok\n"


def burn_cpu(ms: float) -> int:
    """Pure-Python arithmetic until this thread has used ``ms`` milliseconds of CPU (not wall time).

    Counting the thread's own CPU time makes the work per request fixed however many threads share the GIL.
    """
    end = time.thread_time() + ms / 1000.0
    x = 1
    while time.thread_time() < end:
        for _ in range(200):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


def cpu_work(work_ms: float) -> Work:
    """``work_ms`` of CPU in the connection's own thread (one process: one core at most, by the GIL)."""

    def work() -> tuple[int, bytes]:
        burn_cpu(work_ms)
        return 200, OK

    return work


def gil_work(workers: int, work_ms: float) -> Work:
    """``work_ms`` of CPU in a pool of ``workers`` threads: one GIL, so 1000 / work_ms req/s at most."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gil-work")

    def work() -> tuple[int, bytes]:
        pool.submit(burn_cpu, work_ms).result()
        return 200, OK

    return work


def lock_work(workers: int, work_ms: float) -> Work:
    """A sleep of ``work_ms`` while holding one of ``workers`` semaphore slots: workers x 1000 / work_ms req/s."""
    slots = threading.BoundedSemaphore(workers)
    seconds = work_ms / 1000.0

    def work() -> tuple[int, bytes]:
        with slots:
            time.sleep(seconds)
        return 200, OK

    return work


def disk_work(workdir: str, size_bytes: int, blocks: int = 1024) -> Work:
    """Write ``size_bytes`` and fsync, per request, like a log commit; the file cycles over ``blocks`` blocks."""
    fd = os.open(os.path.join(workdir, "commit.log"), os.O_WRONLY | os.O_CREAT, 0o600)
    block = b"x" * size_bytes
    counter = itertools.count()  # next() is atomic under the GIL

    def work() -> tuple[int, bytes]:
        os.pwrite(fd, block, (next(counter) % blocks) * size_bytes)
        os.fsync(fd)
        return 200, OK

    return work


def fds_work() -> Work:
    """Open /dev/null and never close it: once RLIMIT_NOFILE is reached, os.open raises EMFILE (a 500)."""
    leaked: list[int] = []

    def work() -> tuple[int, bytes]:
        leaked.append(os.open(os.devnull, os.O_RDONLY))
        return 200, OK

    return work
