"""HTTP targets of known behaviour for tests, on 127.0.0.1 and a free port.

``CapacityServer(slots=N, work_ms=W)``: each request takes one of N slots for W ms of sleep, so the capacity is
N * 1000 / W requests per second whatever the CPU does. ``stall_after``/``stall_seconds`` make it stall once:
the first request at or after ``stall_after`` seconds starts a stall, and every request that arrives before the
stall ends waits for it. ``python -m tests.support.servers --slots 4 --work-ms 20`` runs one in its own process and
prints its port (``spawn_server_process`` does that, for tests that kill the target).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # the default 5 drops SYNs when a ramp opens many connections at once

    def __init__(self, owner: CapacityServer) -> None:
        self.owner = owner
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
        pass  # clients that hang up (a driver that timed out or stopped) are normal here

    def process_request(self, request, client_address):  # type: ignore[no-untyped-def]
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[no-untyped-def]
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would add 40 ms
    server: _Server
    error_message_format = "error\n"
    responses_cache: ClassVar[dict[int, bytes]] = {}

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        owner = self.server.owner
        owner.wait_for_stall()
        status = owner.status
        if owner.slots is None:
            time.sleep(owner.work_ms / 1000.0)
        else:
            with owner.semaphore:
                time.sleep(owner.work_ms / 1000.0)
        with owner.lock:
            owner.requests += 1
        body = owner.body
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # a response to HEAD says how long the body is, and does not send it
            self.wfile.write(body)
        with owner.lock:
            owner.methods[self.command] = owner.methods.get(self.command, 0) + 1

    do_GET = _serve
    do_HEAD = _serve
    do_POST = _serve
    do_PUT = _serve


class CapacityServer:
    """A threaded HTTP/1.1 keep-alive server with a capacity set by sleeps and a semaphore."""

    def __init__(
        self,
        slots: int | None = 4,
        work_ms: float = 20.0,
        *,
        body: bytes = b"ok\n",
        status: int = 200,
        stall_after: float | None = None,
        stall_seconds: float = 1.0,
    ) -> None:
        self.slots = slots
        self.work_ms = work_ms
        self.body = body
        self.status = status
        self.stall_after = stall_after
        self.stall_seconds = stall_seconds
        self.semaphore = threading.Semaphore(slots or 1)
        self.lock = threading.Lock()
        self.requests = 0
        self.methods: dict[str, int] = {}  # requests answered, by method
        self.stall_start: float | None = None  # time.monotonic() when the stall began
        self._stall_end: float | None = None
        self._started = time.monotonic()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    @property
    def capacity_rps(self) -> float:
        return (self.slots or 1) * 1000.0 / self.work_ms

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> CapacityServer:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def wait_for_stall(self) -> None:
        if self.stall_after is None:
            return
        now = time.monotonic()
        with self.lock:
            if self._stall_end is None and now - self._started >= self.stall_after:
                self.stall_start = now
                self._stall_end = now + self.stall_seconds
            end = self._stall_end
        if end is not None and now < end:
            time.sleep(end - now)

    def stop(self) -> None:
        """Stop listening and cut every open connection, like a process that died."""
        self._server.shutdown()
        self._server.server_close()
        with self._server.sockets_lock:
            sockets = list(self._server.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=2.0)

    def __enter__(self) -> CapacityServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def spawn_server_process(
    slots: int = 4, work_ms: float = 20.0, timeout: float = 10.0
) -> tuple[subprocess.Popen[str], int]:
    """Run a CapacityServer in its own process; return the process and its port (kill it to kill the target)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--slots", str(slots), "--work-ms", str(work_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline and not line:
        line = proc.stdout.readline().strip()
    if not line.isdigit():
        proc.kill()
        raise RuntimeError(f"test server did not start: {line!r}")
    return proc, int(line)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--work-ms", type=float, default=20.0)
    args = parser.parse_args()
    server = CapacityServer(args.slots, args.work_ms).start()
    print(server.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    _main()
