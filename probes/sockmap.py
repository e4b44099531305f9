"""Which sockets a process tree holds, where they lead, and which of them are its request path.

An fd maps to a socket inode through the link /proc/PID/fd/N (``socket:[INODE]``); an inode maps to its local
and remote address through one sock_diag dump. A socket accepted on one of the tree's own listening ports is the
request path (``client``); any other TCP socket the tree holds was opened by it to another address
(``downstream``). The map is rebuilt by ``refresh`` (once a second is enough: a connection that lives for less is
counted where a thread was seen waiting on it, not by name).
"""

from __future__ import annotations

import os
from typing import NamedTuple

from bottlenecktop.probes import sockdiag
from bottlenecktop.probes.samples import PeerRole

MAX_FDS = 65536  # per process: beyond this a refresh would cost more than the whole sampling budget


class Endpoint(NamedTuple):
    """What one fd is: a socket with its role and peer, a listener, or something else ('file', 'pipe', ...)."""

    kind: str  # "tcp", "listener", "unix", "file", "pipe", "eventfd", "other"
    role: PeerRole  # meaningful for sockets only
    peer: str  # "127.0.0.1:6379" for a downstream, "clients of :8000" for the request path, "" otherwise
    inode: int = 0


def hostport(addr: str, port: int) -> str:
    """'127.0.0.1:80' or '[::1]:80'."""
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def read_fd_links(pid: int, limit: int = MAX_FDS) -> dict[int, str]:
    """fd -> link text ('socket:[123]', '/var/log/x', 'pipe:[9]') of PID; empty when it cannot be read."""
    out: dict[int, str] = {}
    base = f"/proc/{pid}/fd"
    try:
        names = os.listdir(base)
    except OSError:
        return out
    for name in names[:limit]:
        try:
            out[int(name)] = os.readlink(f"{base}/{name}")
        except (OSError, ValueError):  # closed between the list and the read
            continue
    return out


def socket_inode(link: str) -> int | None:
    if link.startswith("socket:["):
        return int(link[8:-1])
    return None


class SocketMap:
    """fd -> Endpoint for every process of a tree, rebuilt by ``refresh``. Not thread-safe: one owner."""

    def __init__(self) -> None:
        self.links: dict[int, dict[int, str]] = {}  # pid -> fd -> link
        self.sockets: dict[int, sockdiag.TcpSocket] = {}  # inode -> socket, the tree's TCP sockets only
        self.listen_ports: set[int] = set()  # the tree's listening TCP ports
        self.all_sockets: list[sockdiag.TcpSocket] = []  # the whole namespace's dump (peers names local ends)
        self.unix: dict[int, str] = {}  # inode -> "unix:PATH" of the tree's unix sockets ("unix" when unnamed)
        self.unix_listeners: set[int] = set()
        self.error = ""

    def refresh(self, pids: list[int], with_info: bool = False) -> None:
        """Re-read the fds of PIDS and one sock_diag dump (with tcp_info when WITH_INFO)."""
        self.links = {pid: read_fd_links(pid) for pid in pids}
        inodes = {ino for links in self.links.values() for link in links.values()
                  if (ino := socket_inode(link)) is not None}
        try:
            dump = sockdiag.tcp_sockets(with_info=with_info)
            self.error = ""
        except OSError as exc:
            dump = []
            self.error = f"sock_diag: {exc}"
        self.all_sockets = dump
        self.sockets = {s.inode: s for s in dump if s.inode in inodes}
        self.listen_ports = {s.local_port for s in self.sockets.values() if s.state == sockdiag.TCP_LISTEN}
        self.unix, self.unix_listeners = {}, set()
        if inodes - self.sockets.keys():
            try:
                names = sockdiag.unix_sockets()
            except OSError:
                names = {}
            for ino in inodes - self.sockets.keys():
                if ino in names:
                    own, peer, state = names[ino]
                    path = own or names.get(peer, ("", 0, 0))[0]
                    self.unix[ino] = f"unix:{path}" if path else "unix"
                    if state == sockdiag.TCP_LISTEN:
                        self.unix_listeners.add(ino)

    def role_of(self, sock: sockdiag.TcpSocket) -> PeerRole:
        """client when SOCK was accepted on one of the tree's listening ports, else downstream."""
        return "client" if sock.local_port in self.listen_ports else "downstream"

    def endpoint(self, pid: int, fd: int) -> Endpoint | None:
        """What fd FD of PID is; None when the fd is unknown (opened since the last refresh, or closed)."""
        link = self.links.get(pid, {}).get(fd)
        if link is None:
            return None
        ino = socket_inode(link)
        if ino is None:
            if link.startswith("pipe:"):
                return Endpoint("pipe", "other", "")
            if link.startswith("anon_inode:"):
                return Endpoint(link[11:].strip("[]") or "other", "other", "")
            return Endpoint("file", "other", "") if link.startswith("/") else Endpoint("other", "other", "")
        sock = self.sockets.get(ino)
        if sock is None:
            if ino in self.unix_listeners:
                return Endpoint("listener", "client", f"clients of {self.unix[ino]}", ino)
            if ino in self.unix:
                return Endpoint("unix", "unix", self.unix[ino], ino)
            return Endpoint("other", "other", "", ino)  # UDP, netlink, or a TCP socket born after the dump
        if sock.state == sockdiag.TCP_LISTEN:
            return Endpoint("listener", "client", f"clients of :{sock.local_port}", ino)
        role = self.role_of(sock)
        peer = f"clients of :{sock.local_port}" if role == "client" else hostport(sock.remote, sock.remote_port)
        return Endpoint("tcp", role, peer, ino)
