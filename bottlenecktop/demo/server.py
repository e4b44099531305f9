"""The demo's HTTP server: a thread per keep-alive connection, cheap per request apart from its ``work``.

Every request, whatever its method or path, runs ``work()`` and answers with its status and small body.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Work = Callable[[], tuple[int, bytes]]  # -> (HTTP status, body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    wbufsize = -1  # headers and body leave in one send, at the flush after each request
    disable_nagle_algorithm = True
    server: DemoHTTPServer

    def _answer(self, with_body: bool) -> None:
        try:
            status, body = self.server.work()
        except Exception as exc:  # the designed failure (EMFILE, a dead downstream) is an answer, not a crash
            status, body = 500, f"{type(exc).__name__}: {exc}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def _drain_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def do_POST(self) -> None:
        self._drain_body()
        self._answer(with_body=True)

    do_PUT = do_POST
    do_DELETE = do_POST

    def log_message(self, format: str, *args: object) -> None:
        pass  # a log line per request would cost more than the request


class DemoHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer around an already listening socket, answering every request with ``work()``."""

    daemon_threads = True

    def __init__(self, sock: socket.socket, work: Work) -> None:
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_address = sock.getsockname()[:2]
        self.work = work

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        try:
            conn, addr = self.socket.accept()
        except OSError as exc:
            # Out of fds (the fds kind): the connection stays queued; wait instead of spinning on poll.
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                time.sleep(0.05)
            raise
        return conn, addr

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # resets by clients that went away are normal under load


def listening_socket(port: int = 0, reuse_port: bool = False, backlog: int = 1024) -> socket.socket:
    """A TCP socket listening on 127.0.0.1:``port`` (0: a free port), with a backlog deep enough for a ramp."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(backlog)
    return sock
