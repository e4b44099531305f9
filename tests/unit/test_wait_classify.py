"""The wait classifier on /proc lines captured on this machine (Linux 6.18, x86_64) from real blocked threads."""

from __future__ import annotations

import struct

import pytest

from bottlenecktop.probes import syscalls
from bottlenecktop.probes.sockmap import Endpoint
from bottlenecktop.probes.wait_classify import (
    classify,
    decode_fdset,
    decode_pollfds,
    epoll_targets,
    parse_syscall,
    stat_state,
)

X86 = syscalls.table("x86_64")
ARM = syscalls.table("aarch64")

# (stat line head, wchan, syscall line) as read from threads of a Python child
EVENT_WAIT = (b"4242 (python3) S 1 4242 4242 0 -1 4194368 ", b"futex_do_wait",
              b"202 0x7fa334000ba0 0x189 0x0 0x0 0x0 0xffffffff 0x7fa339f8e8c0 0x7fa33a6a3f16")
RECV_UNIX = (b"4243 (python3) S 1 4242 4242 0 -1 4194368 ", b"unix_stream_read_generic",
             b"45 0x3 0x7fa33a1882f0 0xa 0x0 0x0 0x0 0x7fa338f88a10 0x7fa33a728974")
POLL = (b"4244 (python3) S", b"poll_schedule_timeout.constprop.0",
        b"7 0x7fa33a5a4760 0x1 0x1388 0x0 0x0 0x7fa33ad4e6e8 0x7fa32bffea30 0x7fa33a71a26f")
PSELECT = (b"4245 (python3) S", b"poll_schedule_timeout.constprop.0",
           b"270 0x8 0x7fa32b7f18f0 0x0 0x0 0x7fa32b7f1820 0x0 0x7fa32b7f1810 0x7fa33a71c9ec")
EPOLL = (b"4246 (python3) S", b"do_epoll_wait",
         b"232 0x8 0x7fa33a5a4790 0x1 0x1388 0x0 0x0 0x7fa32affca30 0x7fa33a726f36")
ACCEPT = (b"4247 (python3) S", b"inet_csk_accept",
          b"288 0x5 0x7fa32a7fba10 0x7fa32a7fba04 0x80000 0x0 0x7fa33ad4e6e8 0x7fa32a7fb9b0 0x7fa33a728fa8")
SLEEP = (b"4248 (python3) S", b"hrtimer_nanosleep",
         b"230 0x1 0x1 0x7fa329ffaab0 0x0 0x0 0x7fa33ad4e6e8 0x7fa329ffaa70 0x7fa33a6ed545")
FSYNC = (b"4249 (python3) D", b"submit_bio_wait",
         b"74 0x9 0x0 0x0 0x0 0x0 0x0 0x7fa329ff9a70 0x7fa33a6ed545")
RUNNING = (b"4250 (python3) R", b"0", b"running")

DOWN = Endpoint("tcp", "downstream", "127.0.0.1:6379", 1)
CLIENT = Endpoint("tcp", "client", "clients of :8000", 2)
LISTENER = Endpoint("listener", "client", "clients of :8000", 3)
PIPE = Endpoint("pipe", "other", "")


def _call(line: bytes) -> tuple[str | None, tuple[int, ...]]:
    parsed = parse_syscall(line)
    if parsed is None:
        return None, ()
    nr, args = parsed
    return X86.get(nr, ""), args


def test_captured_lines_parse() -> None:
    assert stat_state(EVENT_WAIT[0]) == "S" and stat_state(FSYNC[0]) == "D" and stat_state(RUNNING[0]) == "R"
    assert stat_state(b"77 (a) b) c) S 1") == "S"  # a comm with ')' in it: the last ')' ends it
    assert parse_syscall(b"running") is None
    assert parse_syscall(b"-1 0x7ffd 0x7f00") == (-1, ())
    assert _call(RECV_UNIX[2]) == ("recvfrom", (3, 0x7FA33A1882F0, 10, 0, 0, 0))
    assert _call(PSELECT[2])[0] == "pselect6" and _call(PSELECT[2])[1][0] == 8
    assert _call(EPOLL[2])[0] == "epoll_wait" and _call(ACCEPT[2])[0] == "accept4"


@pytest.mark.parametrize(("captured", "endpoints", "expected"), [
    (EVENT_WAIT, None, "futex"),
    (SLEEP, None, "sleep"),
    (FSYNC, None, "disk"),
    (RUNNING, None, "running"),
    (ACCEPT, None, "idle"),
    (RECV_UNIX, [Endpoint("unix", "unix", "unix:/run/x.sock", 9)], "socket"),
    (RECV_UNIX, [DOWN], "socket"),
    (POLL, [DOWN], "socket"),
    (PSELECT, [CLIENT], "socket"),
    (EPOLL, [LISTENER, CLIENT, DOWN], "idle"),  # an event loop that would accept new work: idle
    (EPOLL, [PIPE], "other"),
    (POLL, None, "other"),  # the pollfd array could not be read
    (PSELECT, [], "sleep"),  # select() with no fds, as a sleep
])
def test_classes(captured: tuple[bytes, bytes, bytes], endpoints: list[Endpoint] | None, expected: str) -> None:
    stat, wchan, line = captured
    call, _ = _call(line)
    cls, _ = classify(stat_state(stat), wchan.decode(), call, endpoints)
    assert cls == expected


def test_socket_waits_name_every_socket_of_the_set() -> None:
    call, _ = _call(EPOLL[2])
    cls, socks = classify("S", "do_epoll_wait", call, [DOWN, PIPE, CLIENT])
    assert cls == "socket" and socks == [DOWN, CLIENT]


def test_a_futex_in_psycopg_style_names_is_still_what_the_kernel_says() -> None:
    # a "Connection.wait" in Python is a poll on a socket: the class comes from the syscall, not the name
    call, _ = _call(POLL[2])
    assert classify("S", "poll_schedule_timeout", call, [DOWN])[0] == "socket"


def test_syscall_tables_differ_per_architecture() -> None:
    assert X86[202] == "futex" and ARM[98] == "futex"
    assert ARM[73] == "ppoll" and ARM[22] == "epoll_pwait" and ARM[242] == "accept4" and ARM[207] == "recvfrom"
    assert 7 not in ARM or ARM[7] != "poll"  # aarch64 has no poll(2)
    assert X86[7] == "poll" and X86[232] == "epoll_wait" and X86[270] == "pselect6"


def test_fd_sets_decode() -> None:
    pollfds = struct.pack("=ihh", 5, 1, 0) + struct.pack("=ihh", -1, 1, 0) + struct.pack("=ihh", 9, 4, 0)
    assert decode_pollfds(pollfds) == [5, 9]
    fdset = (1 << 3 | 1 << 70).to_bytes(16, "little")
    assert decode_fdset(fdset, 128) == [3, 70]
    assert decode_fdset(fdset, 8) == [3]  # bits at or past nfds are not looked at by select
    # captured /proc/PID/fdinfo of an epoll fd with one socket registered
    info = (b"pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1044\n"
            b"tfd:        4 events:       19 data:                4  pos:0 ino:68e5 sdev:9\n"
            b"tfd:       12 events:       19 data:                c  pos:0 ino:68f0 sdev:9\n")
    assert epoll_targets(info) == [4, 12]
