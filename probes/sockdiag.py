"""TCP socket states and the accept queue of a listening socket, through sock_diag netlink (what `ss` uses).

Reading /proc/net/tcp walks the kernel's whole connection hash table (about 7 ms of CPU on a machine with
262144 buckets, even with three sockets); a netlink dump costs a twentieth of that. It also reports the
limit of a listen queue (idiag_wqueue = sk_max_ack_backlog), which /proc/net/tcp does not show.
TIME_WAIT sockets are left out of the dump and counted from /proc/net/sockstat, because a load test can leave
tens of thousands of them and each would cost a Python loop turn.
"""

from __future__ import annotations

import socket
import struct

from bottlenecktop.probes import procfs

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
TCP_LISTEN = 10
TCP_TIME_WAIT = 6
ALL_BUT_TIME_WAIT = 0xFFF & ~(1 << TCP_TIME_WAIT)

STATE_NAMES = {int(k, 16): v for k, v in procfs.TCP_STATES.items()}

_NLMSG = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_REQ = struct.Struct("=BBBBI48s")  # family, protocol, ext, pad, states, sockid
_MSG_STATE = struct.Struct("=xB")  # family, state
_SPORT = struct.Struct("!H")  # inet_diag_sockid starts with the source port, network order
_QUEUES = struct.Struct("=4xII")  # expires, rqueue, wqueue
_SOCKID_OFF = 4
_QUEUES_OFF = 4 + 48


def _dump(family: int, states: int) -> list[tuple[int, int, int, int]]:
    """[(state, local port, rqueue, wqueue)] of the TCP sockets of FAMILY whose state bit is in STATES."""
    req = _REQ.pack(family, socket.IPPROTO_TCP, 0, 0, states, b"\0" * 48)
    msg = _NLMSG.pack(_NLMSG.size + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + req
    out: list[tuple[int, int, int, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as s:
        s.settimeout(1.0)
        s.sendto(msg, (0, 0))
        for _ in range(100_000):  # bounded: a dump ends with NLMSG_DONE
            data = s.recv(65536)
            if not data:
                break
            off = 0
            while off + _NLMSG.size <= len(data):
                length, mtype, _flags, _seq, _pid = _NLMSG.unpack_from(data, off)
                if mtype == NLMSG_DONE:
                    return out
                if mtype == NLMSG_ERROR:
                    raise OSError("sock_diag refused the request")
                body = off + _NLMSG.size
                (state,) = _MSG_STATE.unpack_from(data, body)
                (sport,) = _SPORT.unpack_from(data, body + _SOCKID_OFF)
                rq, wq = _QUEUES.unpack_from(data, body + _QUEUES_OFF)
                out.append((state, sport, rq, wq))
                off += (length + 3) & ~3
    return out


def accept_queue(port: int) -> tuple[int, int] | None:
    """(connections waiting to be accepted, the queue's limit), summed over the IPv4 and IPv6 listeners on
    PORT; None when nothing listens there or netlink is unavailable."""
    found = False
    queue = backlog = 0
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            rows = _dump(family, 1 << TCP_LISTEN)
        except OSError:
            return None
        for _state, sport, rq, wq in rows:
            if sport == port:
                found, queue, backlog = True, queue + rq, backlog + wq
    return (queue, backlog) if found else None


def tcp_states(listen_port: int | None) -> tuple[dict[str, int], int | None, int | None]:
    """(socket count per state name, accept queue, its limit) for this network namespace; the queue numbers
    are None without a LISTEN_PORT or a listener on it. Raises OSError when netlink is unavailable."""
    counts: dict[int, int] = {}
    queue: int | None = None
    backlog: int | None = None
    for family in (socket.AF_INET, socket.AF_INET6):
        for state, sport, rq, wq in _dump(family, ALL_BUT_TIME_WAIT):
            counts[state] = counts.get(state, 0) + 1
            if state == TCP_LISTEN and sport == listen_port:
                queue, backlog = (queue or 0) + rq, (backlog or 0) + wq
    states = {STATE_NAMES.get(k, str(k)): v for k, v in counts.items()}
    tw = _time_wait_count()
    if tw:
        states["TIME_WAIT"] = tw
    return states, queue, backlog


def _time_wait_count() -> int:
    for line in (procfs.read_text("/proc/net/sockstat") or "").splitlines():
        if line.startswith("TCP:"):
            f = line.split()
            if "tw" in f:
                return int(f[f.index("tw") + 1])
    return 0
