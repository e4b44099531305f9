"""A throwaway nginx answering "ok" to everything, fast (one worker, no logs, endless keep-alive): the target of
the load-agent tests, on 127.0.0.1 or on an address a test made (a veth pair of tests/support/netns.py)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

CONF = """worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};
  server {{ listen {addr}:{port}; location / {{ return 200 "ok\\n"; }} }}
}}
"""


def wait_listen(addr: str, port: int, proc: subprocess.Popen[bytes], what: str, limit: float = 20.0) -> None:
    """Until ``proc`` accepts connections on addr:port (bounded by ``limit`` seconds)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{what} exited"
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((addr, port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on {addr}:{port}")


def free_port_on(addr: str) -> int:
    with socket.socket() as sock:
        sock.bind((addr, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def nginx_ok(addr: str = "127.0.0.1") -> Iterator[str]:
    """Yield the URL of an nginx listening on ``addr``; stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="bt-nginx-ok-") as d:
        port = free_port_on(addr)
        conf = Path(d) / "nginx.conf"
        conf.write_text(CONF.format(d=d, addr=addr, port=port))
        proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", d, "-e", f"{d}/error.log"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listen(addr, port, proc, "nginx")
            yield f"http://{addr}:{port}/"
        finally:
            proc.terminate()
            proc.wait(5)
