"""The async-downstream kind: one asyncio event loop serves HTTP/1.1 keep-alive, and each request awaits a GET to
a second, slow local service over a pool of ``concurrency`` keep-alive connections.

At most ``concurrency`` calls are in flight, each takes the downstream's ``delay_ms``: concurrency x 1000 /
delay_ms req/s. No thread of the target is ever blocked on a socket; the loop sits in epoll, and only the
requests outstanding on its sockets to the downstream (tcp_info) show where the time goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from urllib.parse import urlsplit

TIMEOUT_S = 30.0
MAX_HEAD = 65536
OK = b"ok\n"


class DownstreamPool:
    """``size`` keep-alive connections to ``host:port``; a call waits for a free one (the concurrency limit)."""

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.request = f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
        self._free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = asyncio.Queue()
        for _ in range(size):
            self._free.put_nowait(None)  # connected on first use

    async def _call(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> tuple[int, bytes]:
        reader, writer = conn
        writer.write(self.request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = _content_length(head)
        body = await reader.readexactly(length) if length else b""
        return status, body

    async def get(self) -> tuple[int, bytes]:
        """(status, body) of one GET; raises OSError or asyncio errors if the downstream fails."""
        conn = await self._free.get()
        try:
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port)
                sock = conn[1].get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            result = await asyncio.wait_for(self._call(conn), TIMEOUT_S)
        except BaseException:
            if conn is not None:
                conn[1].close()
            self._free.put_nowait(None)
            raise
        self._free.put_nowait(conn)
        return result


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip() or 0)
    return 0


def _response(status: int, body: bytes, with_body: bool) -> bytes:
    reason = {200: b"OK", 502: b"Bad Gateway"}.get(status, b"Error")
    head = b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % (status, reason, len(body))
    return head + body if with_body else head


async def _serve_connection(pool: DownstreamPool, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = _content_length(head)
            if length:
                await reader.readexactly(length)
            try:
                status, _ = await pool.get()
                status, body = (200, OK) if status == 200 else (502, b"downstream answered %d\n" % status)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
                status, body = 502, f"downstream failed: {type(exc).__name__}\n".encode()
            writer.write(_response(status, body, not head.startswith(b"HEAD ")))
            await writer.drain()
            if b"connection: close" in head.lower():
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError, IndexError):
        pass  # clients that hang up or speak nonsense are dropped
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def serve(sock: socket.socket, downstream_url: str, concurrency: int, ready: asyncio.Event) -> None:
    """Serve on the listening ``sock`` forever; ``ready`` is set once it accepts."""
    pool = DownstreamPool(downstream_url, concurrency)
    server = await asyncio.start_server(lambda r, w: _serve_connection(pool, r, w), sock=sock, limit=MAX_HEAD)
    ready.set()
    async with server:
        await server.serve_forever()
