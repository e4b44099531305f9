"""When a connection has a request outstanding, from tcp_info numbers read with `ss -ti` on real sockets here
(Node.js awaiting a slow upstream; jiffies make lastsnd and lastrcv equal on a request sent as it connected)."""

from __future__ import annotations

from bottlenecktop.probes.peers import awaits_reply, being_served
from bottlenecktop.probes.sockdiag import TcpInfo


def info(lastsnd: int, lastrcv: int, acked: int, received: int, sent: int) -> TcpInfo:
    return TcpInfo(lastsnd, lastrcv, 0, 12, acked, received, sent)


def test_request_sent_as_the_connection_opened_awaits_its_reply() -> None:
    # node -> upstream: bytes_sent:60 bytes_acked:61 lastsnd:1004 lastrcv:1004, nothing received
    assert awaits_reply(info(1004, 1004, 61, 0, 60))
    # and the server's side of it: bytes_received:54, nothing sent, lastsnd:1012 lastrcv:1012
    assert being_served(info(1012, 1012, 0, 54, 0))


def test_answered_requests_are_not_outstanding() -> None:
    # a keep-alive connection after its reply: last data received 8 ms after the last request went out
    assert not awaits_reply(info(864, 856, 307873, 10464603, 307872))
    assert not being_served(info(856, 864, 10464604, 307872, 10464603))
    # an idle connection that never carried data is neither
    assert not awaits_reply(info(300, 300, 1, 0, 0)) and not being_served(info(300, 300, 1, 0, 0))


def test_second_request_on_a_kept_connection_awaits_its_reply() -> None:
    # reply to the first came 300 ms ago, the second request left 100 ms ago
    assert awaits_reply(info(100, 300, 4000, 9000, 3999))
    assert being_served(info(300, 100, 9001, 4000, 9000))
