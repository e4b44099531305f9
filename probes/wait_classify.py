"""Classify one thread's wait from what the kernel says: scheduler state, wchan, blocked syscall and its fds.

Pure functions over the bytes of /proc/PID/task/TID/{stat,wchan,syscall} (and the fd sets read for poll, select
and epoll), so that they are tested on captured lines. Never a function name of the program: a Python
``Connection.wait`` that polls a socket is a socket wait because the kernel says poll on a socket fd.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from bottlenecktop.probes import syscalls
from bottlenecktop.probes.samples import KernelWaitClass
from bottlenecktop.probes.sockmap import Endpoint

# wchan names of block I/O sleeps (a task in D state is disk anyway; these catch S/I-state I/O waits too)
_DISK_WCHAN = ("io_schedule", "folio_wait", "wait_on_page", "bit_wait_io", "blk_", "jbd2", "wait_on_buffer",
               "rq_qos_wait", "ext4_", "xfs_", "btrfs_", "nfs_", "__filemap_fdatawait", "wbt_wait")
_POLLFD = struct.Struct("=ihh")  # struct pollfd: fd, events, revents
MAX_POLL_FDS = 4096  # a larger set is read only this far: the sweep's cost stays bounded
MAX_SELECT_FDS = 65536


def stat_state(text: bytes) -> str:
    """The one-letter scheduler state (R, S, D, T, Z, I, ...) from the start of a /proc stat line."""
    end = text.rfind(b")")
    if end < 0 or end + 2 >= len(text):
        return "?"
    return chr(text[end + 2])


def parse_syscall(text: bytes) -> tuple[int, tuple[int, ...]] | None:
    """(syscall number, its six arguments) from /proc/PID/task/TID/syscall; None when the thread is running;
    (-1, ()) when it is blocked outside a syscall (a page fault, a kernel thread)."""
    fields = text.split()
    if not fields or fields[0] == b"running":
        return None
    nr = int(fields[0])
    if nr < 0 or len(fields) < 7:
        return -1, ()
    return nr, tuple(int(a, 16) for a in fields[1:7])


def decode_pollfds(buf: bytes) -> list[int]:
    """The fds of a struct pollfd array (negative fds are ignored by poll, and here)."""
    n = len(buf) // _POLLFD.size
    return [fd for fd, _ev, _rev in _POLLFD.iter_unpack(buf[: n * _POLLFD.size]) if fd >= 0]


def decode_fdset(buf: bytes, nfds: int) -> list[int]:
    """The fds set in an fd_set bitmap of NFDS bits (little- or big-endian longs read as a byte string)."""
    out: list[int] = []
    word = 8
    for w in range(0, len(buf) - word + 1, word):
        (bits,) = struct.unpack_from("=Q", buf, w)
        while bits:
            low = bits & -bits
            fd = w * 8 + low.bit_length() - 1
            if fd < nfds:
                out.append(fd)
            bits ^= low
    return out


def epoll_targets(fdinfo: bytes) -> list[int]:
    """The fds registered in an epoll set, from the ``tfd:`` lines of /proc/PID/fdinfo/EPFD."""
    out: list[int] = []
    for line in fdinfo.split(b"\n"):
        if line.startswith(b"tfd:"):
            parts = line.split()
            if len(parts) > 1 and parts[1].isdigit():
                out.append(int(parts[1]))
    return out


def is_disk_wchan(wchan: str) -> bool:
    return any(w in wchan for w in _DISK_WCHAN)


def classify(state: str, wchan: str, call: str | None,
             endpoints: Sequence[Endpoint] | None) -> tuple[KernelWaitClass, list[Endpoint]]:
    """(wait class, the sockets waited on) of one thread sample.

    STATE is the stat letter, WCHAN the kernel function it sleeps in ("" or "0" when none), CALL the blocked
    syscall's name (None when running, "" when not in a known syscall), ENDPOINTS what the fds it waits on are
    (None when they could not be read). A wait over a set that holds a listener is idle (the thread takes new
    work as soon as it comes); a wait over sockets without one is a socket wait on each of them.
    """
    if state == "R" or call is None:
        return "running", []
    if state == "D":
        return "disk", []
    if call in syscalls.FUTEX or (not call and wchan.startswith("futex")):
        return "futex", []
    if call in syscalls.SLEEP or (not call and wchan in ("hrtimer_nanosleep", "do_nanosleep")):
        return "sleep", []
    if call in syscalls.DISK or is_disk_wchan(wchan):
        return "disk", []
    kind = syscalls.FD_KIND.get(call, "")
    if kind == "accept":
        return "idle", []
    if not kind or endpoints is None:
        return "other", []
    if not endpoints and kind in ("poll", "select", "epoll"):  # no fd in the set: it waits for its timeout only
        return "sleep", []
    if any(e.kind == "listener" for e in endpoints):
        return "idle", []
    socks = [e for e in endpoints if e.kind in ("tcp", "unix")]
    if socks:
        return "socket", socks
    return "other", []
