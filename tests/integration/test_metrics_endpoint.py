"""--metrics-listen end to end: the real CLI ramps the demo headless while a real Prometheus scrapes the endpoint
every second; Prometheus's series, read back over query_range, must be the recording's per-second figures.

Why the checks hold, and the tolerances:
- Exact values: each scrape carries the achieved rate together with the end of the driver second it belongs to
  (``bottlenecktop_load_second_end_seconds``), from the same frame. A float goes out as Python's repr and comes
  back through Go's shortest formatting, both exact; the recording stores floats to 6 significant digits
  (recording/format.py). So Prometheus's pair, rounded by the recording's own rule, must be the recording's
  second exactly: no tolerance beyond the recording's rounding.
- The same seconds: a driver second ending at wall time W (the header's ``started_at`` + its ``t``) is on the
  timeline at the next tick (at most one interval, 1 s, plus the tick's own work), Prometheus's next scrape stamps
  it at most one scrape interval (1 s) later, and query_range at step 1 s takes the newest sample at most one step
  older than its evaluation time E. So 0 <= E - W < 3 s; LAG_S allows 1 s more for a busy two-core machine
  (the demo, its load and Prometheus share it).
- Coverage: with 1 s scrapes of 1 s ticks, a tick that comes late lets two frames pass between scrapes, and
  catch-up frames come in bursts, so not every second is seen; COVERAGE asks for most of them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bottlenecktop.recording import read_recording
from bottlenecktop.recording.format import _round_floats as stored
from tests.support.exporters import free_port, prometheus
from tests.support.paths import ROOT

pytestmark = pytest.mark.slow

LAG_S = 4.0
COVERAGE = 0.6
RUN_S = 30


def query_range(prom: str, query: str, start: float, end: float) -> dict[float, float]:
    """time -> value of QUERY's single series, one point a second."""
    r = httpx.get(f"{prom}/api/v1/query_range", params={"query": query, "start": f"{start:.3f}",
                                                         "end": f"{end:.3f}", "step": "1"}, timeout=10.0,
                  trust_env=False)
    r.raise_for_status()
    result = r.json()["data"]["result"]
    assert len(result) == 1, (query, result)
    return {float(t): float(v) for t, v in result[0]["values"]}


def test_prometheus_sees_the_recordings_seconds(tmp_path: Path) -> None:
    port = free_port()
    rec = tmp_path / "run.jsonl.gz"
    with prometheus(tmp_path, [f"127.0.0.1:{port}"]) as prom:  # skips when /usr/bin/prometheus is missing
        argv = [sys.executable, "-m", "bottlenecktop", "demo", "--headless", "--record", str(rec),
                "--metrics-listen", f"127.0.0.1:{port}", "--max-time", str(RUN_S)]
        run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=RUN_S + 90,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert run.returncode == 0, run.stderr[-2000:]
        assert f"metrics for Prometheus at http://127.0.0.1:{port}/metrics" in run.stderr
        with socket.socket() as probe:  # the endpoint went with the run
            assert probe.connect_ex(("127.0.0.1", port)) != 0
        recording = read_recording(rec)
        started = recording.header.started_at
        end = time.time()
        achieved = query_range(prom, "bottlenecktop_achieved_rps", started, end)
        second = query_range(prom, "bottlenecktop_load_second_end_seconds", started, end)

    assert "--metrics-listen" in recording.header.command_line
    seconds = {f.load.t: f.load.achieved_rps for f in recording.frames if f.load is not None}
    assert len(seconds) >= RUN_S * 0.8, len(seconds)
    assert len(achieved) >= RUN_S * 0.6, f"{len(achieved)} points from Prometheus"
    assert achieved.keys() == second.keys()
    seen: set[float] = set()
    lags: list[float] = []
    for at, value in achieved.items():
        t = stored(second[at])
        assert t in seconds, f"Prometheus at {at}: a driver second at t={t} the recording does not have"
        assert stored(value) == seconds[t], (at, t, value, seconds[t])
        lag = at - (started + t)
        lags.append(lag)
        assert -0.05 <= lag < LAG_S, f"the second ending at t={t} seen {lag:.2f} s after it ended"
        # the same seconds without the helper gauge: the value is one of the seconds that ended in the window
        window = [r for s, r in seconds.items() if at - LAG_S < started + s <= at + 0.05]
        assert stored(value) in window, (at, value, window)
        seen.add(t)
    first, last = min(seen), max(seen)
    inside = [s for s in seconds if first <= s <= last]
    print(f"{len(achieved)} points, {len(seen)} of {len(inside)} driver seconds seen, lag {min(lags):.2f}-"
          f"{max(lags):.2f} s")  # shown with -s: the figures the tolerances are set against
    assert len(seen) >= COVERAGE * len(inside), f"{len(seen)} of {len(inside)} driver seconds seen"
    assert max(achieved.values()) > 0
