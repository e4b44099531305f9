"""Follow the wait to the other end: requests outstanding per downstream peer, and per listening port, from
tcp_info.

A connection whose last data sent is more recent than its last data received has a request awaiting its reply
(``ss -ti`` shows the same as lastsnd/lastrcv). That holds whatever the target's threads do, so an event loop idle
in epoll and a proxy waiting on its upstream show their downstream wait too. On the target's own accepted
connections the reverse (last data received newer than last sent) is a request being served. When a downstream
address is on this host, the process listening there is named, so that the runner can probe it as well.
"""

from __future__ import annotations

import os
import time

import psutil

from bottlenecktop.probes import sockdiag
from bottlenecktop.probes.samples import DownstreamPeer, ListenerLoad, PeersSample
from bottlenecktop.probes.sockmap import SocketMap, hostport
from bottlenecktop.probes.threads import CHILDREN_ALL_EVERY, CHILDREN_EVERY_S, children_of

TOP_DOWNSTREAM = 12
NAMED_PEERS = 4  # the local process behind only the busiest few peers is looked for (a scan of /proc/*/fd)
TCP_ESTABLISHED = 1
_WILDCARD = ("0.0.0.0", "::")
_OWNER_SCAN_S = 30.0  # a local listener whose owner could not be found is looked for again after this long


def local_addresses() -> set[str]:
    """The addresses of this host's interfaces (loopback included)."""
    out = {"127.0.0.1", "::1"}
    try:
        for addrs in psutil.net_if_addrs().values():
            out.update(a.address.split("%", 1)[0] for a in addrs if a.family in (2, 10))
    except OSError:
        pass
    return out


def _is_local(addr: str, mine: set[str]) -> bool:
    return addr in mine or addr.startswith("127.")


def owner_of_inode(inode: int, deadline_s: float = 0.2) -> tuple[int, str] | None:
    """(pid, name) of a process holding socket INODE, by scanning /proc/*/fd; None when not found in time."""
    needle = f"socket:[{inode}]"
    stop = time.monotonic() + deadline_s
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        if time.monotonic() > stop:
            return None
        base = f"/proc/{name}/fd"
        try:
            fds = os.listdir(base)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{base}/{fd}") == needle:
                    try:
                        with open(f"/proc/{name}/comm") as f:
                            return int(name), f.read().strip()
                    except OSError:
                        return int(name), ""
            except OSError:
                continue
    return None


class PeerProbe:
    """Per tick: the target tree's TCP connections grouped by downstream peer and by listening port."""

    def __init__(self, pid: int, include_children: bool = True) -> None:
        self.pid = pid
        self.include_children = include_children
        self._map = SocketMap()
        self._pids = [pid]
        self._children_at = -1e9
        self._children_n = 0
        self._mine = local_addresses()
        self._owners: dict[str, tuple[float, tuple[int, str] | None]] = {}  # peer -> (when looked, owner)

    def sample(self) -> PeersSample:
        """Where the target's connections go now; never raises (a target that exited gives an empty sample)."""
        c0 = time.process_time()
        try:
            out = self._sample()
        except Exception as exc:  # a process can vanish between any two reads
            out = PeersSample(error=f"peers: {type(exc).__name__}: {exc}")
        out.cost_ms = round((time.process_time() - c0) * 1e3, 3)
        return out

    def _sample(self) -> PeersSample:
        now = time.monotonic()
        if not os.path.exists(f"/proc/{self.pid}"):
            return PeersSample(error=f"target pid {self.pid} exited")
        if self.include_children and now - self._children_at >= CHILDREN_EVERY_S:
            self._children_at = now
            self._pids = [self.pid, *children_of(self.pid, self._children_n % CHILDREN_ALL_EVERY == 0)]
            self._children_n += 1
        m = self._map
        m.refresh(self._pids, with_info=True)
        down: dict[str, list[sockdiag.TcpSocket]] = {}
        serving: dict[int, list[sockdiag.TcpSocket]] = {p: [] for p in sorted(m.listen_ports)}
        for s in m.sockets.values():
            if s.state != TCP_ESTABLISHED:
                continue
            if m.role_of(s) == "client":
                serving[s.local_port].append(s)
            else:
                down.setdefault(hostport(s.remote, s.remote_port), []).append(s)
        peers = [self._downstream(peer, socks) for peer, socks in down.items()]
        peers.sort(key=lambda p: (-p.outstanding, -p.sockets))
        for p in peers[:NAMED_PEERS]:
            owner = self._owner(p.peer, down[p.peer][0])
            if owner is not None:
                p.pid, p.process = owner
        return PeersSample(downstream=peers[:TOP_DOWNSTREAM],
                           listeners=[_listener(port, socks) for port, socks in serving.items()],
                           sockets=len(m.sockets), error=m.error)

    def _downstream(self, peer: str, socks: list[sockdiag.TcpSocket]) -> DownstreamPeer:
        ages: list[int] = []
        rtts: list[int] = []
        unacked = 0
        for s in socks:
            i = s.info
            if i is None:
                continue
            rtts.append(i.rtt_us)
            unacked += i.unacked
            if awaits_reply(i):
                ages.append(i.last_data_sent_ms)
        return DownstreamPeer(peer=peer, sockets=len(socks), outstanding=len(ages),
                              oldest_ms=float(max(ages, default=0)),
                              mean_age_ms=round(sum(ages) / len(ages), 1) if ages else 0.0,
                              rtt_ms=round(sum(rtts) / len(rtts) / 1e3, 3) if rtts else 0.0, unacked=unacked)

    def _owner(self, peer: str, sock: sockdiag.TcpSocket) -> tuple[int, str] | None:
        """The local process listening at SOCK's remote address, cached per peer while it lives (a scan that
        found nothing is not repeated for _OWNER_SCAN_S: it runs on the tick)."""
        if not _is_local(sock.remote, self._mine):
            return None
        now = time.monotonic()
        cached = self._owners.get(peer)
        if cached is not None:
            when, owner = cached
            if owner is not None and os.path.exists(f"/proc/{owner[0]}"):
                return owner
            if owner is None and now - when < _OWNER_SCAN_S:
                return None
        listener = next((s for s in self._map.all_sockets if s.state == sockdiag.TCP_LISTEN
                         and s.local_port == sock.remote_port and s.local in (sock.remote, *_WILDCARD)), None)
        owner = owner_of_inode(listener.inode) if listener is not None and listener.inode else None
        self._owners[peer] = (now, owner)
        return owner


def awaits_reply(i: sockdiag.TcpInfo) -> bool:
    """A request went out on this connection and no reply came since: data sent, and either nothing ever
    received or the last data sent newer than the last received (times are in jiffies: equal is not newer)."""
    return i.bytes_sent > 0 and (i.bytes_received == 0 or i.last_data_sent_ms < i.last_data_recv_ms)


def being_served(i: sockdiag.TcpInfo) -> bool:
    """A request came in on this accepted connection and is not answered yet (the mirror of awaits_reply)."""
    return i.bytes_received > 0 and (i.bytes_sent == 0 or i.last_data_recv_ms < i.last_data_sent_ms)


def _listener(port: int, socks: list[sockdiag.TcpSocket]) -> ListenerLoad:
    ages = [s.info.last_data_recv_ms for s in socks if s.info is not None and being_served(s.info)]
    return ListenerLoad(port=port, sockets=len(socks), in_progress=len(ages), oldest_ms=float(max(ages, default=0)))
