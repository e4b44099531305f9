"""The fast engine: keep-alive HTTP/1.1 over asyncio Protocols (on uvloop), responses parsed by httptools.

One request at a time per connection (no pipelining), at most ``max_connections`` connections. Requests that
find no idle connection wait in a FIFO while new connections open; their latency still counts from the time
they were meant to leave, so a slow target shows as latency (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable

import httptools

from bottlenecktop.probes.load.engines.base import (
    CLOSED_ERROR_PAUSE_S,
    EngineBase,
    classify_connect_error,
    classify_lost,
    status_class,
)
from bottlenecktop.probes.load.target import Target


class _Conn(asyncio.Protocol):
    """One keep-alive connection; carries at most one request."""

    __slots__ = ("busy", "engine", "intended", "parser", "sent_at", "transport")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.busy = False
        self.intended = 0.0
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.engine.tally.bytes_in += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.engine.broken(self, "other", "the target sent a response that is not HTTP/1.1")

    def on_message_complete(self) -> None:
        self.engine.finished(self, self.parser.get_status_code(), self.parser.should_keep_alive())

    def connection_lost(self, exc: Exception | None) -> None:
        self.engine.lost(self, exc)


class _HeadConn(_Conn):
    """A connection for HEAD requests: each response ends with its headers, whatever Content-Length says.

    llhttp would wait for the Content-Length bytes of body that a response to HEAD never has, and httptools
    cannot tell it to skip them, so the response is finished at its headers and the next one gets a new parser.
    """

    __slots__ = ()

    def on_headers_complete(self) -> None:
        parser = self.parser
        status, keep_alive = parser.get_status_code(), parser.should_keep_alive()
        self.parser = httptools.HttpResponseParser(self)  # before finished(), which may send the next request
        self.engine.finished(self, status, keep_alive)

    def on_message_complete(self) -> None:
        pass  # already finished at the headers




class Engine(EngineBase):
    """Sends requests, counts what comes back into ``tally`` (taken by the controller every tenth of a second)."""

    def __init__(
        self,
        target: Target,
        *,
        timeout: float = 5.0,
        max_connections: int = 256,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._init_books(timeout)
        self.target = target
        self.request = target.request
        self.max_connections = max(1, max_connections)
        self.ssl_context = ssl_context
        self.conns: set[_Conn] = set()
        self.idle: list[_Conn] = []
        self.connecting = 0
        self.busy = 0
        self._closing = False
        self._conn_class = _HeadConn if target.method == "HEAD" else _Conn
        self.pull: Callable[[float], None] | None = None  # the pacer's, while backlogged (pacer.Backlogs)

    # --- what the pacer and the controller call

    @property
    def in_flight(self) -> int:
        return self.busy + len(self.queue)

    @property
    def backlogged(self) -> bool:
        """Requests wait for a connection and no more can open: only a response lets the next one leave."""
        return bool(self.queue) and len(self.conns) + self.connecting >= self.max_connections

    @property
    def connections(self) -> int:
        """Open connections (each carries at most one request)."""
        return len(self.conns)

    def submit(self, intended: float, now: float) -> None:
        """One request meant to leave at ``intended`` (time.monotonic()); ``now`` is the time it is handed over."""
        self._count_offer(intended, now)
        if self.idle:
            self._send(self.idle.pop(), intended, now)
        else:
            self.queue.append(intended)
            self._open_more()

    def sweep(self, now: float) -> None:
        """Time out requests older than the timeout: those on the wire and those still waiting for a connection."""
        for conn in list(self.conns):
            if conn.busy and now - conn.sent_at > self.timeout:
                self._fail(conn, "timeout")
                if conn.transport is not None:
                    conn.transport.abort()
        self._expire_queue(now)

    def outstanding_over(self, now: float, limit_s: float) -> int:
        """How many unfinished requests have waited longer than ``limit_s`` from their intended time."""
        oldest = now - limit_s
        return sum(1 for c in self.conns if c.busy and c.intended < oldest) + self._queued_over(now, limit_s)

    def outstanding_ages_us(self, now: float) -> list[int]:
        """How long each unfinished request has waited so far, from its intended time, in microseconds."""
        return [int((now - c.intended) * 1e6) for c in self.conns if c.busy] + self._queued_ages_us(now)

    def close(self) -> None:
        self._closing = True
        self.closed_n = 0
        self.queue.clear()
        for conn in list(self.conns):
            if conn.transport is not None:
                conn.transport.abort()
        self.conns.clear()
        self.idle.clear()

    # --- the hot path

    def _send(self, conn: _Conn, intended: float, now: float) -> None:
        conn.intended = intended
        conn.sent_at = now
        conn.busy = True
        self.busy += 1
        self.tally.sent += 1
        conn.transport.write(self.request)  # type: ignore[union-attr]

    def finished(self, conn: _Conn, status: int, keep_alive: bool) -> None:
        if not conn.busy:  # a response nobody asked for (after a timeout): ignore it
            return
        now = time.monotonic()
        conn.busy = False
        self.busy -= 1
        lat = int((now - conn.intended) * 1e6)
        svc = int((now - conn.sent_at) * 1e6)
        tally = self.tally
        tally.completed += 1
        tally.lat.append(lat)
        tally.svc.append(svc)
        if status < 400:
            tally.ok += 1
        else:
            cls = status_class(status)
            tally.errors[cls] = tally.errors.get(cls, 0) + 1
        if keep_alive:
            self._next(conn, now)
        else:
            self._forget(conn)
            if conn.transport is not None:
                conn.transport.close()
            if self.pull is not None:
                self.pull(now)  # the arrivals due join the queue before a new connection opens for them
            self._refill(now)

    def _next(self, conn: _Conn, now: float) -> None:
        """Give a free connection the oldest waiting request, or a new one in the closed model, or park it."""
        if self.pull is not None:
            self.pull(now)  # backlogged: the arrivals due by now join the queue first, in their turn
        queue = self.queue
        if queue:
            intended = queue.popleft()
            self._count_wait(intended, now)
            self._send(conn, intended, now)
        elif self.busy < self.closed_n:
            self.tally.offered += 1
            self._send(conn, now, now)
        else:
            self.idle.append(conn)

    def _refill(self, now: float) -> None:
        if self._closing:
            return
        if self.closed_n and self.in_flight < self.closed_n:
            self.submit(now, now)
        else:
            self._open_more()

    # --- connections

    def _open_more(self) -> None:
        if self._closing:
            return
        while self.connecting < len(self.queue) and len(self.conns) + self.connecting < self.max_connections:
            self.connecting += 1
            asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        target = self.target
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: self._conn_class(self),
                    target.address,
                    target.port,
                    ssl=self.ssl_context if target.tls else None,
                    server_hostname=target.host if target.tls else None,
                ),
                self.timeout,
            )
        except Exception as exc:
            self.connecting -= 1
            cls, message = classify_connect_error(exc, target, self.timeout)
            self.note(message)
            if self.queue and not self._closing:
                self.queue.popleft()
                self.tally.fail(cls)
            if self.closed_n:
                loop.call_later(CLOSED_ERROR_PAUSE_S, self._refill, time.monotonic())
            else:
                self._open_more()
            return
        self.connecting -= 1
        if self._closing:
            conn.transport.abort()  # type: ignore[union-attr]
            return
        self.conns.add(conn)
        self.tally.connects += 1
        self._next(conn, time.monotonic())

    def _forget(self, conn: _Conn) -> None:
        self.conns.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)

    def _fail(self, conn: _Conn, error_class: str) -> None:
        if conn.busy:
            conn.busy = False
            self.busy -= 1
            self.tally.fail(error_class)

    def broken(self, conn: _Conn, error_class: str, message: str) -> None:
        self.note(message)
        self._fail(conn, error_class)
        if conn.transport is not None:
            conn.transport.abort()

    def lost(self, conn: _Conn, exc: Exception | None) -> None:
        self._forget(conn)
        if conn.busy:
            self._fail(conn, classify_lost(exc))
            if exc is None:
                self.note(f"{self.target.where} closed a connection with a request outstanding")
            else:
                self.note(f"connection to {self.target.where} lost: {exc}")
        if self._closing:
            return
        now = time.monotonic()
        if self.pull is not None:
            self.pull(now)  # a connection fewer: the due arrivals join the queue before one opens for them
        if self.closed_n:
            asyncio.get_running_loop().call_later(CLOSED_ERROR_PAUSE_S, self._refill, now)
        else:
            self._open_more()
