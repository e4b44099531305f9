"""The proxy kind: nginx (one worker, keep-alive to its upstream) in front of a second, slow local service.

The upstream is the ``lock`` work in its own process (slots x delay), so the limit is slots x 1000 / delay_ms
req/s while nginx's worker sits idle in epoll, waiting on its upstream sockets. nginx is started by the demo's
child process, which dies with bottlenecktop (lifeline.py) and takes nginx with it: nginx's master gets
PDEATHSIG too, and its worker exits when the master does.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

_PR_SET_PDEATHSIG = 1

CONF = """{user}worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  upstream slow {{ server {upstream}; keepalive 64; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{port} backlog=1024;
    location / {{
      proxy_pass http://slow;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 30s;
    }}
  }}
}}
"""


def nginx_binary() -> str | None:
    """nginx's path: on PATH, else where Debian puts it (/usr/sbin is not on every user's PATH)."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_us() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Nginx:
    """nginx running from ``workdir`` on 127.0.0.1:``port``, proxying to ``upstream`` (host:port)."""

    def __init__(self, workdir: str, upstream: str) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed")
        self.workdir, self.port = Path(workdir), _free_port()
        conf = self.workdir / "nginx.conf"
        conf.write_text(CONF.format(user="user root;\n" if os.geteuid() == 0 else "", d=self.workdir,
                                    upstream=upstream, port=self.port))
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(self.workdir), "-e", str(self.workdir / "error.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_us,
        )

    def wait_listening(self, timeout: float) -> None:
        """Return once nginx accepts on its port; RuntimeError with nginx's own complaint if it exits first."""
        deadline = time.monotonic() + timeout
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.workdir / "error.log"
                why = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
                raise RuntimeError(f"nginx did not start: {why[0] if why else 'no message'}")
            time.sleep(0.05)

    def pids(self) -> list[int]:
        """The master first, then its workers."""
        try:
            return [self.proc.pid, *(c.pid for c in psutil.Process(self.proc.pid).children())]
        except psutil.Error:
            return [self.proc.pid]

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM (nginx's fast shutdown), SIGKILL to the master and workers left after ``grace`` seconds."""
        procs = []
        with contextlib.suppress(psutil.Error):
            procs = [psutil.Process(pid) for pid in self.pids()]
        if self.proc.poll() is None:
            self.proc.terminate()
        _, alive = psutil.wait_procs(procs, timeout=grace)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(grace)
