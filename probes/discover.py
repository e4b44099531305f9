"""Find the local process that listens on a TCP port (the target behind a URL)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import psutil

from bottlenecktop.probes import procfs

_ANY = {"0.0.0.0", "::", ""}


def _matches(laddr_ip: str, host: str) -> bool:
    """Whether a socket bound to LADDR_IP accepts connections addressed to HOST."""
    if laddr_ip in _ANY or laddr_ip == host:
        return True
    try:
        a, b = ipaddress.ip_address(laddr_ip), ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(a, "ipv4_mapped", None)
    return a == b or (mapped is not None and mapped == b) or (a.is_loopback and b.is_loopback)


def find_listener(port: int, host: str = "127.0.0.1") -> int | None:
    """The pid of the local process listening on HOST:PORT (TCP), or None. With several (a pre-fork server
    whose workers share the socket) the one whose parent is not among them: the master."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    pids = {
        c.pid
        for c in conns
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid is not None
        and _matches(c.laddr.ip, host)
    }
    if not pids:
        return None
    for pid in sorted(pids):
        try:
            if psutil.Process(pid).ppid() not in pids:
                return pid
        except psutil.Error:
            continue
    return min(pids)


def url_port(url: str | None) -> int | None:
    """The TCP port a URL's connections go to (its default by scheme), None when there is no URL or it has none."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


def listening(port: int) -> bool:
    """Whether any socket listens on PORT (TCP, this network namespace): a read of /proc/net/tcp{,6}, far cheaper
    than find_listener's scan of every process's fds, so that a caller waiting for a listener can ask often."""
    return procfs.tcp_sockets(port)[1] is not None
