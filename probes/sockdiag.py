"""TCP socket states and the accept queue of a listening socket, through sock_diag netlink (what `ss` uses).

Reading /proc/net/tcp walks the kernel's whole connection hash table (about 7 ms of CPU on a machine with
262144 buckets, even with three sockets); a netlink dump costs a twentieth of that. It also reports the
limit of a listen queue (idiag_wqueue = sk_max_ack_backlog), which /proc/net/tcp does not show.
TIME_WAIT sockets are left out of the dump and counted from /proc/net/sockstat, because a load test can leave
tens of thousands of them and each would cost a Python loop turn.

``tcp_sockets`` returns each socket's addresses and inode (to match a process's fds) and, on request, the part
of struct tcp_info (INET_DIAG_INFO) that says whether a request awaits its reply: ``tcpi_last_data_sent`` and
``tcpi_last_data_recv`` (ms ago, in jiffies: a request sent in the same few ms as the connection opened has
both equal, so the byte counts ``tcpi_bytes_sent``/``tcpi_bytes_received`` say it too), ``tcpi_unacked``
(segments), ``tcpi_rtt`` (µs).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterator
from typing import NamedTuple

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


def _diag_messages(req: bytes, bufsize: int = 1 << 17) -> Iterator[tuple[bytes, int, int]]:
    """Send one sock_diag dump request and yield (buffer, start of the message body, end of the message) for
    each answer, until NLMSG_DONE. Raises OSError when netlink is unavailable or the kernel refuses."""
    msg = _NLMSG.pack(_NLMSG.size + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + req
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as s:
        s.settimeout(1.0)
        s.sendto(msg, (0, 0))
        for _ in range(100_000):  # bounded: a dump ends with NLMSG_DONE
            data = s.recv(bufsize)
            if not data:
                return
            off = 0
            while off + _NLMSG.size <= len(data):
                length, mtype, _flags, _seq, _pid = _NLMSG.unpack_from(data, off)
                if mtype == NLMSG_DONE:
                    return
                if mtype == NLMSG_ERROR:
                    raise OSError("sock_diag refused the request")
                yield data, off + _NLMSG.size, off + length
                off += (length + 3) & ~3


def _dump(family: int, states: int) -> list[tuple[int, int, int, int]]:
    """[(state, local port, rqueue, wqueue)] of the TCP sockets of FAMILY whose state bit is in STATES."""
    out: list[tuple[int, int, int, int]] = []
    for data, body, _end in _diag_messages(_REQ.pack(family, socket.IPPROTO_TCP, 0, 0, states, b"\0" * 48), 65536):
        (state,) = _MSG_STATE.unpack_from(data, body)
        (sport,) = _SPORT.unpack_from(data, body + _SOCKID_OFF)
        rq, wq = _QUEUES.unpack_from(data, body + _QUEUES_OFF)
        out.append((state, sport, rq, wq))
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


INET_DIAG_INFO = 2  # rtattr type of struct tcp_info in a reply; its request bit is 1 << (INET_DIAG_INFO - 1)
_RTA = struct.Struct("=HH")  # rta_len, rta_type
_MSG = struct.Struct("=BBBBHH16s16s12xIIIII")  # family state timer retrans sport dport src dst (if, cookie) ...
_MSG_NET_PORTS = struct.Struct("!HH")
# struct tcp_info (include/uapi/linux/tcp.h): u32 tcpi_unacked at 24, last_data_sent at 44, last_data_recv at 52,
# rtt at 68; u64 bytes_acked at 120 and bytes_received at 128 (kernels since 4.1/4.2; older replies are shorter)
_INFO_U32 = struct.Struct("=24xI16xI4xI12xI")
_INFO_BYTES = struct.Struct("=QQ")
_INFO_BYTES_OFF = 120
_INFO_SENT = struct.Struct("=Q")  # u64 tcpi_bytes_sent at 200 (kernels since 4.19)
_INFO_SENT_OFF = 200


class TcpInfo(NamedTuple):
    """The fields of struct tcp_info that tell a request awaiting its reply; times are ms ago."""

    last_data_sent_ms: int
    last_data_recv_ms: int
    unacked: int  # segments
    rtt_us: int  # smoothed round-trip time, µs
    bytes_acked: int  # bytes the peer acknowledged, the SYN counted (0 when the kernel does not say)
    bytes_received: int
    bytes_sent: int  # data bytes sent; older kernels: bytes_acked less the SYN


class TcpSocket(NamedTuple):
    state: int  # TCP state code (TCP_LISTEN = 10, ESTABLISHED = 1, ...)
    inode: int  # matches socket:[INODE] in /proc/PID/fd
    local: str  # "127.0.0.1" or "::1" (an IPv4-mapped IPv6 address is given as IPv4)
    local_port: int
    remote: str
    remote_port: int
    info: TcpInfo | None


def _address(family: int, raw: bytes) -> str:
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    addr = ipaddress.IPv6Address(raw)
    mapped = addr.ipv4_mapped
    return str(mapped) if mapped is not None else str(addr)


def _parse_info(data: bytes, start: int, end: int) -> TcpInfo | None:
    """Walk the rtattrs of one inet_diag_msg for INET_DIAG_INFO."""
    off = start
    while off + _RTA.size <= end:
        rta_len, rta_type = _RTA.unpack_from(data, off)
        if rta_len < _RTA.size:
            return None
        if rta_type == INET_DIAG_INFO:
            payload = off + _RTA.size
            plen = rta_len - _RTA.size
            if plen < _INFO_U32.size:
                return None
            unacked, sent, recv, rtt = _INFO_U32.unpack_from(data, payload)
            acked = received = 0
            if plen >= _INFO_BYTES_OFF + _INFO_BYTES.size:
                acked, received = _INFO_BYTES.unpack_from(data, payload + _INFO_BYTES_OFF)
            bytes_sent = max(0, acked - 1)
            if plen >= _INFO_SENT_OFF + _INFO_SENT.size:
                (bytes_sent,) = _INFO_SENT.unpack_from(data, payload + _INFO_SENT_OFF)
            return TcpInfo(sent, recv, unacked, rtt, acked, received, bytes_sent)
        off += (rta_len + 3) & ~3
    return None


def tcp_sockets(with_info: bool = False, states: int = ALL_BUT_TIME_WAIT) -> list[TcpSocket]:
    """Every TCP socket (IPv4 and IPv6) of this network namespace whose state bit is in STATES, with its
    tcp_info when WITH_INFO (listeners have none). Raises OSError when netlink is unavailable."""
    out: list[TcpSocket] = []
    ext = 1 << (INET_DIAG_INFO - 1) if with_info else 0
    for family in (socket.AF_INET, socket.AF_INET6):
        for data, body, end in _diag_messages(_REQ.pack(family, socket.IPPROTO_TCP, ext, 0, states, b"\0" * 48)):
            fam, state, _t, _r, _sp, _dp, src, dst, _exp, _rq, _wq, _uid, inode = _MSG.unpack_from(data, body)
            sport, dport = _MSG_NET_PORTS.unpack_from(data, body + _SOCKID_OFF)
            info = _parse_info(data, body + _MSG.size, end) if with_info else None
            out.append(TcpSocket(state, inode, _address(fam, src), sport, _address(fam, dst), dport, info))
    return out


_UNIX_REQ = struct.Struct("=BBHIIIII")  # family, protocol, pad, states, ino, show, cookie[2]
_UNIX_MSG = struct.Struct("=BBBxI8x")  # family, type, state, pad, ino, cookie
UDIAG_SHOW_NAME = 0x1
UDIAG_SHOW_PEER = 0x4
UNIX_DIAG_NAME = 0
UNIX_DIAG_PEER = 2


def unix_sockets() -> dict[int, tuple[str, int, int]]:
    """inode -> (bound path or '', the peer's inode or 0, state: TCP_LISTEN for a listener) of every unix
    socket in this namespace; a client's path is its peer's (the server's accepted socket carries the listener's
    path). Raises OSError without netlink."""
    req = _UNIX_REQ.pack(socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0, UDIAG_SHOW_NAME | UDIAG_SHOW_PEER, 0xFFFFFFFF, 0xFFFFFFFF)
    out: dict[int, tuple[str, int, int]] = {}
    for data, body, end in _diag_messages(req):
        _fam, _type, state, ino = _UNIX_MSG.unpack_from(data, body)
        name, peer = "", 0
        a = body + _UNIX_MSG.size
        while a + _RTA.size <= end:
            rlen, rtype = _RTA.unpack_from(data, a)
            if rlen < _RTA.size:
                break
            payload = data[a + _RTA.size:a + rlen]
            if rtype == UNIX_DIAG_NAME:
                name = ("@" + payload[1:].decode(errors="replace")) if payload[:1] == b"\0" else \
                    payload.split(b"\0", 1)[0].decode(errors="replace")
            elif rtype == UNIX_DIAG_PEER and len(payload) >= 4:
                (peer,) = struct.unpack_from("=I", payload)
            a += (rlen + 3) & ~3
        out[ino] = (name, peer, state)
    return out
