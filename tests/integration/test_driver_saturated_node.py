"""A saturated one-thread server that is not Python: the verdict names its thread, not the load driver.

Node.js burns about 0.4 ms of CPU per request on its one event-loop thread (about 2.5k req/s at most); the
driver ramps past that, holds 256 connections and keeps a queue, all on a 2-core box it shares with the target.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.paths import ROOT

NODE_SERVER = r"""
const http = require('http');
const burnNs = 400000n;
http.createServer((req, res) => {
  const end = process.hrtime.bigint() + burnNs;
  while (process.hrtime.bigint() < end) {}
  res.writeHead(200, {'Content-Type': 'text/plain', 'Content-Length': '3'});
  res.end('ok\n');
}).listen(Number(process.argv[2]), '127.0.0.1');
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (apt-get install nodejs)")
def test_the_verdict_on_a_saturated_node_server_names_its_thread(tmp_path: Path) -> None:
    script = tmp_path / "server.js"
    script.write_text(NODE_SERVER)
    port = _free_port()
    server = subprocess.Popen(["node", str(script), str(port)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            pytest.fail("the Node.js server did not start")
        verdict_path = tmp_path / "v.json"
        run = subprocess.run(
            [sys.executable, "-m", "bottlenecktop", f"http://127.0.0.1:{port}/", "--headless", "--json",
             str(verdict_path), "--max-time", "60", "--no-record", "--start-rps", "200"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert "Traceback" not in run.stderr, run.stderr
        verdict = json.loads(verdict_path.read_text())
    finally:
        server.terminate()
        server.wait(5)
    bottleneck = verdict["bottleneck"]
    print(json.dumps({"capacity": verdict["capacity"], "bottleneck": bottleneck}, indent=1))
    assert verdict["target"]["pid"] == server.pid
    # The server's one thread, scoped to the node process (or the node process itself), never the driver.
    assert bottleneck["resource"] == "cpu-thread", bottleneck
    assert f"pid {server.pid}" in bottleneck["scope"], bottleneck
    assert not verdict["capacity"].get("driver_limited", False), verdict["capacity"]
    # The ramp found a rate near the server's capacity (one core / 0.4 ms = 2.5k req/s at most).
    assert 300 <= verdict["capacity"]["max_sustainable_rps"] <= 2600, verdict["capacity"]
