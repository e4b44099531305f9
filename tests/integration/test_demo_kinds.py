"""Each demo kind, under a small real load, shows the bottleneck it was built to have."""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psutil
import pytest

from bottlenecktop.demo import DemoServer, start_demo


@dataclass
class Load:
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    statuses: Counter[int | str] = field(default_factory=Counter)

    @property
    def ok_rps(self) -> float:
        return self.ok / self.seconds


def hammer(url: str, connections: int, seconds: float, max_requests: int = 50_000) -> Load:
    """Closed-loop load: ``connections`` threads, each a keep-alive connection, for ``seconds`` at most."""
    parts = urlsplit(url)
    load, lock = Load(), threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
        while time.monotonic() < deadline:
            with lock:
                if load.ok + load.errors >= max_requests:
                    return
            try:
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
                status: int | str = resp.status
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                conn.close()
            with lock:
                load.statuses[status] += 1
                if status == 200:
                    load.ok += 1
                else:
                    load.errors += 1
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 10)
    load.seconds = time.monotonic() - start
    return load


@pytest.fixture
def demo(request: pytest.FixtureRequest) -> Iterator[DemoServer]:
    kind, options = request.param
    server = start_demo(kind, options)
    yield server
    server.stop()


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        t = psutil.Process(pid).cpu_times()
        out[pid] = t.user + t.system
    return out


def thread_demand_seconds(pid: int) -> dict[int, float]:
    """Per thread: seconds on a CPU plus seconds runnable but waiting for one (/proc schedstat).

    On a shared machine a thread that wants a whole core may get half of one; what it wants is what shows
    the bottleneck, and that is run time plus run-queue wait.
    """
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                on_cpu, waiting, _ = f.read().split()
        except OSError:
            continue
        out[int(tid)] = (int(on_cpu) + int(waiting)) / 1e9
    return out


@pytest.mark.parametrize("demo", [("lock", {"workers": "4", "work_ms": "20"})], indirect=True)
def test_lock_runs_at_its_capacity_with_the_cpu_idle(demo: DemoServer) -> None:
    assert demo.capacity_rps == pytest.approx(200.0)
    before, t0 = cpu_seconds([demo.pid]), time.monotonic()
    load = hammer(demo.url, connections=16, seconds=3.0)
    cores = (cpu_seconds([demo.pid])[demo.pid] - before[demo.pid]) / (time.monotonic() - t0)
    assert load.errors == 0, load.statuses
    assert load.ok_rps == pytest.approx(200.0, rel=0.15)
    assert cores < 0.5, f"the lock demo used {cores:.2f} cores"


@pytest.mark.parametrize("demo", [("downstream", {"slots": "4", "delay_ms": "25"})], indirect=True)
def test_downstream_runs_at_the_downstream_capacity(demo: DemoServer) -> None:
    assert demo.capacity_rps == pytest.approx(160.0)
    assert len(demo.pids) == 2 and demo.pid == demo.pids[0]
    before, t0 = cpu_seconds(demo.pids), time.monotonic()
    load = hammer(demo.url, connections=16, seconds=3.0)
    after, wall = cpu_seconds(demo.pids), time.monotonic() - t0
    assert load.errors == 0, load.statuses
    assert load.ok_rps == pytest.approx(160.0, rel=0.15)
    assert (after[demo.pid] - before[demo.pid]) / wall < 0.5  # the target waits, it does not work


@pytest.mark.parametrize("demo", [("gil", {"workers": "1", "work_ms": "10"})], indirect=True)
def test_gil_pins_one_thread_of_one_process(demo: DemoServer) -> None:
    assert demo.capacity_rps == pytest.approx(100.0)
    before, cpu_before, t0 = thread_demand_seconds(demo.pid), cpu_seconds([demo.pid]), time.monotonic()
    load = hammer(demo.url, connections=8, seconds=3.0)
    after, wall = thread_demand_seconds(demo.pid), time.monotonic() - t0
    cores = (cpu_seconds([demo.pid])[demo.pid] - cpu_before[demo.pid]) / wall
    busiest = max(after[tid] - before.get(tid, 0.0) for tid in after) / wall
    assert load.errors == 0, load.statuses
    assert busiest > 0.85, f"the busiest thread wanted {busiest:.2f} of a core"
    assert cores < 1.2, f"one GIL, yet {cores:.2f} cores"
    assert load.ok_rps < 100.0 * 1.15  # never above what one core can do


@pytest.mark.parametrize("demo", [("gil", {"workers": "4", "work_ms": "10"})], indirect=True)
def test_gil_more_threads_do_not_add_capacity(demo: DemoServer) -> None:
    before, t0 = cpu_seconds([demo.pid]), time.monotonic()
    load = hammer(demo.url, connections=8, seconds=2.0)
    cores = (cpu_seconds([demo.pid])[demo.pid] - before[demo.pid]) / (time.monotonic() - t0)
    assert load.errors == 0, load.statuses
    assert load.ok_rps < 100.0 * 1.15
    assert cores < 1.2, f"one GIL, yet {cores:.2f} cores"


@pytest.mark.parametrize("demo", [("cpu", {"workers": "2", "work_ms": "5"})], indirect=True)
def test_cpu_keeps_every_worker_busy(demo: DemoServer) -> None:
    assert len(demo.pids) == 2
    before, t0 = cpu_seconds(demo.pids), time.monotonic()
    load = hammer(demo.url, connections=16, seconds=3.0)
    after, wall = cpu_seconds(demo.pids), time.monotonic() - t0
    per_worker = {pid: (after[pid] - before[pid]) / wall for pid in demo.pids}
    assert load.errors == 0, load.statuses
    # Two cores shared with the test's own client and other jobs: "busy" is well above idle, not 100 %.
    assert all(c > 0.3 for c in per_worker.values()), per_worker


@pytest.mark.parametrize("demo", [("disk", {"size_bytes": "4096"})], indirect=True)
def test_disk_fsyncs_every_request(demo: DemoServer) -> None:
    proc = psutil.Process(demo.pid)
    written = proc.io_counters().write_bytes
    load = hammer(demo.url, connections=2, seconds=5.0, max_requests=50)
    assert load.ok >= 50 and load.errors == 0, load.statuses
    assert proc.io_counters().write_bytes - written >= 50 * 4096 // 2
    logs = [f.path for f in proc.open_files() if f.path.endswith("commit.log")]
    assert len(logs) == 1
    demo.stop()
    assert not os.path.exists(os.path.dirname(logs[0])), "the demo's temp dir outlived it"


@pytest.mark.parametrize("demo", [("fds", {"limit": "64"})], indirect=True)
def test_fds_fail_once_the_limit_is_reached(demo: DemoServer) -> None:
    assert demo.fails_after_requests is not None
    # One keep-alive connection holds one fd of its own, so it gets one request fewer.
    expected_ok = demo.fails_after_requests - 1
    load = hammer(demo.url, connections=1, seconds=10.0, max_requests=expected_ok + 20)
    assert load.ok == pytest.approx(expected_ok, abs=2), load.statuses
    assert load.statuses[500] >= 18, load.statuses
