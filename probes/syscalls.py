"""Syscall numbers of the calls a blocked thread is classified by, for x86_64 and aarch64.

/proc/PID/task/TID/syscall names the call by its number, which differs per architecture (aarch64 uses the
generic table: no poll, select, epoll_wait or accept, only their p-/4 variants). Taken from the kernel's
arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/unistd.h.
"""

from __future__ import annotations

import os
from typing import Literal

# How the fds a call waits on are found: "fd" (the first argument is the fd), "poll" (a pollfd array: args 0, 1),
# "select" (fd_sets: nfds in arg 0, read/write/except set pointers in args 1-3), "epoll" (the epoll fd in arg 0,
# its set in /proc/PID/fdinfo), "accept" (the fd is a listener), "" (no fd to resolve).
FdKind = Literal["fd", "poll", "select", "epoll", "accept", ""]

# name -> (x86_64 number, aarch64 number or None when the call does not exist there)
_TABLE: dict[str, tuple[int, int | None]] = {
    "read": (0, 63),
    "write": (1, 64),
    "poll": (7, None),
    "pread64": (17, 67),
    "pwrite64": (18, 68),
    "readv": (19, 65),
    "writev": (20, 66),
    "select": (23, None),
    "pause": (34, None),
    "nanosleep": (35, 101),
    "sendfile": (40, 71),
    "connect": (42, 203),
    "accept": (43, 202),
    "sendto": (44, 206),
    "recvfrom": (45, 207),
    "sendmsg": (46, 211),
    "recvmsg": (47, 212),
    "wait4": (61, 260),
    "msgrcv": (70, 188),
    "fsync": (74, 82),
    "fdatasync": (75, 83),
    "rt_sigtimedwait": (128, 137),
    "rt_sigsuspend": (130, 133),
    "sync": (162, 81),
    "futex": (202, 98),
    "io_getevents": (208, 4),
    "clock_nanosleep": (230, 115),
    "epoll_wait": (232, None),
    "waitid": (247, 95),
    "pselect6": (270, 72),
    "ppoll": (271, 73),
    "splice": (275, 76),
    "sync_file_range": (277, 84),
    "epoll_pwait": (281, 22),
    "accept4": (288, 242),
    "recvmmsg": (299, 243),
    "syncfs": (306, 267),
    "sendmmsg": (307, 269),
    "io_uring_enter": (426, 426),
    "epoll_pwait2": (441, 441),
    "futex_waitv": (449, 449),
}

FD_KIND: dict[str, FdKind] = {
    **dict.fromkeys(("read", "write", "pread64", "pwrite64", "readv", "writev", "sendto", "recvfrom", "sendmsg",
                     "recvmsg", "recvmmsg", "sendmmsg", "connect", "sendfile", "fsync", "fdatasync",
                     "sync_file_range", "syncfs"), "fd"),
    "poll": "poll", "ppoll": "poll",
    "select": "select", "pselect6": "select",
    "epoll_wait": "epoll", "epoll_pwait": "epoll", "epoll_pwait2": "epoll",
    "accept": "accept", "accept4": "accept",
}

FUTEX = frozenset({"futex", "futex_waitv"})
SLEEP = frozenset({"nanosleep", "clock_nanosleep", "pause"})
DISK = frozenset({"fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "io_getevents"})


def table(machine: str | None = None) -> dict[int, str]:
    """Syscall number -> name for MACHINE (``uname -m``; this machine when None). Unknown machines get the
    x86_64 table, which is wrong for them: their waits then mostly classify as ``other``."""
    arch = machine or os.uname().machine
    col = 1 if arch in ("aarch64", "arm64") else 0
    out: dict[int, str] = {}
    for name, nums in _TABLE.items():
        nr = nums[col]
        if nr is not None:
            out[nr] = name
    return out
