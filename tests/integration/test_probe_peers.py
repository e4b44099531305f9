"""PeerProbe and WaitSampler on servers nobody here wrote: a Node.js server awaiting a slow upstream (its one
thread idle in epoll) and nginx proxying to one; the requests outstanding per upstream come from tcp_info."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bottlenecktop.probes.peers import PeerProbe
from bottlenecktop.probes.samples import PeersSample
from bottlenecktop.probes.threads import WaitSampler
from tests.support.probe_children import wait_until
from tests.support.servers import free_port
from tests.support.wait_children import NODE_PROXY, SLOW_HTTP, http_clients, process

IN_FLIGHT = 5
DELAY_S = 4.0


def _slow_upstream(tmp_path: Path) -> list[str]:
    script = tmp_path / "slow_upstream.py"
    script.write_text(SLOW_HTTP)
    return [sys.executable, str(script), "30", str(DELAY_S)]


def _outstanding(probe: PeerProbe, peer: str, want: int) -> PeersSample:
    """Sample until PEER shows WANT requests outstanding (at most 5 s), then once more 0.3 s later."""
    last: list[PeersSample] = []

    def enough() -> bool:
        last.append(probe.sample())
        return any(p.peer == peer and p.outstanding >= want for p in last[-1].downstream)

    assert wait_until(enough, timeout=5.0, step=0.2), last[-1] if last else None
    time.sleep(0.3)  # the requests age: a sample taken as they left says 0 ms
    return probe.sample()


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (.ci/test installs nodejs)")
def test_node_server_idles_in_epoll_while_requests_wait_on_its_upstream(tmp_path: Path) -> None:
    with process(_slow_upstream(tmp_path)) as (upstream, up_words):
        up_port = int(up_words[0])
        with process(["node", "-e", NODE_PROXY, str(up_port), "30"]) as (node, words):
            port = int(words[0])
            probe = PeerProbe(node.pid)
            sampler = WaitSampler(node.pid, t0=time.monotonic(), top_threads=32)
            with http_clients(port, IN_FLIGHT, timeout=DELAY_S + 10):
                peer = f"127.0.0.1:{up_port}"
                sample = _outstanding(probe, peer, IN_FLIGHT)
                sampler.start()
                time.sleep(1.5)
                waits = sampler.take()
                sampler.stop()
    down = next(p for p in sample.downstream if p.peer == peer)
    assert down.outstanding == IN_FLIGHT and down.sockets == IN_FLIGHT, down
    assert 250 <= down.oldest_ms < DELAY_S * 1000, down
    assert down.pid == upstream.pid and down.process.startswith("python"), down  # the local listener, named
    served = next(lst for lst in sample.listeners if lst.port == port)
    assert served.sockets == IN_FLIGHT and served.in_progress == IN_FLIGHT, served
    # node's own thread sits in epoll over a set holding its listener: idle, not waiting on any socket
    assert waits is not None
    main = next(t for t in waits.top_threads if t.tid == node.pid)
    assert main.waits.get("idle", 0) >= 90 and main.syscall.startswith("epoll"), main
    assert not any(p.role == "downstream" for p in waits.peers), waits.peers


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (.ci/test installs nginx-light)")
def test_nginx_proxy_shows_requests_outstanding_per_upstream(tmp_path: Path) -> None:
    port = free_port()
    with process(_slow_upstream(tmp_path)) as (_upstream, up_words):
        up_port = int(up_words[0])
        (tmp_path / "logs").mkdir()
        conf = tmp_path / "nginx.conf"
        conf.write_text(f"""
worker_processes 2;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/logs/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://127.0.0.1:{up_port}; proxy_read_timeout 30s; }}
    }}
}}
""")
        nginx = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"])
        try:
            assert wait_until(lambda: _listening(port), timeout=10.0), "nginx did not listen"
            probe = PeerProbe(nginx.pid)
            with http_clients(port, IN_FLIGHT, timeout=DELAY_S + 10):
                peer = f"127.0.0.1:{up_port}"
                sample = _outstanding(probe, peer, IN_FLIGHT)
                sampler = WaitSampler(nginx.pid, t0=time.monotonic())
                sampler.start()
                time.sleep(1.5)
                waits = sampler.take()
                sampler.stop()
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)
    down = next(p for p in sample.downstream if p.peer == peer)
    assert down.outstanding == IN_FLIGHT, down  # one upstream connection per proxied request, each awaiting
    assert 250 <= down.oldest_ms < DELAY_S * 1000, down
    served = next(lst for lst in sample.listeners if lst.port == port)
    assert served.in_progress == IN_FLIGHT, served  # the workers (children of the master) hold the clients
    # the master and its two workers; the workers sit in epoll over sets that hold the listener: idle
    assert waits is not None and len(waits.processes) == 3, waits
    workers = [p for p in waits.processes if p.pid != nginx.pid]
    assert all(p.waits.get("idle", 0) >= 90 for p in workers), workers


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
