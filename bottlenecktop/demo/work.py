"""What each demo kind does per request: the designed bottleneck, and nothing else."""

from __future__ import annotations

import itertools
import mmap
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


def _open_for_commits(path: str) -> tuple[int, bool]:
    """Open ``path`` for writes that reach the device before they return: O_DSYNC, and O_DIRECT where the file
    system allows it (tmpfs does not), so no page cache soaks them up. Returns (fd, direct)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_DSYNC
    try:
        return os.open(path, flags | getattr(os, "O_DIRECT", 0), 0o600), hasattr(os, "O_DIRECT")
    except OSError:
        return os.open(path, flags, 0o600), False


def disk_work(workdir: str, size_bytes: int, blocks: int = 8) -> Work:
    """Write ``size_bytes`` to the device and wait until it is stable, per request, like a large log commit.

    Every request thread writes at once (a queue forms at the device), with O_DIRECT | O_DSYNC into a file of
    ``blocks`` slots written once up front, so each write is pure device time: no page cache, no metadata commit,
    little CPU. The device's write bandwidth and latency set the capacity.
    """
    size = max(4096, -(-size_bytes // 4096) * 4096)  # O_DIRECT wants whole 4 KiB blocks
    fd, _direct = _open_for_commits(os.path.join(workdir, "commit.log"))
    block = mmap.mmap(-1, size)  # page aligned, as O_DIRECT needs
    block.write(b"x" * size)
    for k in range(blocks):  # allocate the slots now: a later overwrite changes no file system metadata
        os.pwrite(fd, block, k * size)
    counter = itertools.count()  # next() is atomic under the GIL

    def work() -> tuple[int, bytes]:
        os.pwrite(fd, block, (next(counter) % blocks) * size)
        return 200, OK

    return work


def fds_work() -> Work:
    """Open /dev/null and never close it: once RLIMIT_NOFILE is reached, os.open raises EMFILE (a 500)."""
    leaked: list[int] = []

    def work() -> tuple[int, bytes]:
        leaked.append(os.open(os.devnull, os.O_RDONLY))
        return 200, OK

    return work


def leak_work(kib: int, cap_mib: int) -> Work:
    """Keep ``kib`` KiB per request for good, resident (every page written), until ``cap_mib`` MiB are kept; then
    answer 507 without keeping more, so a run left going cannot take all of the machine's memory."""
    size, cap = kib * 1024, cap_mib * 2**20
    kept: list[bytes] = []
    lock = threading.Lock()

    def work() -> tuple[int, bytes]:
        with lock:
            if len(kept) * size >= cap:
                return 507, b"leak cap reached\n"
            kept.append(b"x" * size)  # b"x" * n writes every byte: resident, not a lazily mapped zero page
        return 200, OK

    return work
