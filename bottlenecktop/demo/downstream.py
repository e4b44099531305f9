"""The target's side of the downstream kind: each request waits on a call to a second, slow local service.

The slow service itself is the ``lock`` work (slots x delay) run in its own process by the launcher.
"""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlsplit

from bottlenecktop.demo.server import Work

TIMEOUT_S = 30.0  # a queue at the downstream shows as latency first, an error only when it is absurd


def downstream_work(url: str) -> Work:
    """GET ``url`` over one keep-alive connection per server thread; 502 if the downstream fails."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    local = threading.local()

    def call() -> tuple[int, bytes]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            local.conn = None
            raise
        return resp.status, body

    def work() -> tuple[int, bytes]:
        try:
            status, body = call()
        except (OSError, http.client.HTTPException) as exc:
            return 502, f"downstream failed: {type(exc).__name__}: {exc}\n".encode()
        return (200, body) if status == 200 else (502, b"downstream answered %d\n" % status)

    return work
