"""The demo kinds leak, quota, async-downstream and proxy: each has the limit it was built to have under a small
real load, cleans up after itself, and (slow) bottlenecktop's headless verdict names its resource and scope."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from bottlenecktop.demo import DemoServer, start_demo
from bottlenecktop.demo.quota import PREFIX, quota_root
from tests.integration.test_demo_kinds import cpu_seconds, hammer
from tests.support.paths import ROOT
from tests.support.verdict_shape import verdict_problems

TOLERANCE = 0.15


@pytest.fixture
def demo(request: pytest.FixtureRequest) -> Iterator[DemoServer]:
    kind, options = request.param
    server = start_demo(kind, options)
    yield server
    server.stop()


def peer_ports(pid: int) -> set[int]:
    """Remote ports of the established TCP connections ``pid`` opened to 127.0.0.1 (not its own clients)."""
    listening = {c.laddr.port for c in psutil.Process(pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    return {c.raddr.port for c in psutil.Process(pid).net_connections("tcp")
            if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.laddr.port not in listening}


def cgroup_of(pid: int) -> str:
    """The cgroup of ``pid`` in the hierarchy the quota kind uses."""
    root = quota_root()
    assert root is not None
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (root.version == 2 and controllers == "") or (root.version == 1 and "cpu" in controllers.split(",")):
            return path
    raise AssertionError(f"pid {pid} has no cpu cgroup")


def stale_quota_cgroups() -> list[str]:
    root = quota_root()
    return [] if root is None else [p.name for p in root.directory.iterdir() if p.name.startswith(PREFIX)]


def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


# ---- async-downstream ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("demo", [("async-downstream", {"concurrency": "4", "delay_ms": "20"})], indirect=True)
def test_async_downstream_runs_at_concurrency_over_delay_on_one_loop(demo: DemoServer) -> None:
    assert demo.capacity_rps == pytest.approx(200.0)
    assert len(demo.pids) == 2 and demo.pid == demo.pids[0]
    before, t0 = cpu_seconds([demo.pid]), time.monotonic()
    load = hammer(demo.url, connections=32, seconds=3.0)
    cores = (cpu_seconds([demo.pid])[demo.pid] - before[demo.pid]) / (time.monotonic() - t0)
    assert load.errors == 0, load.statuses
    assert load.ok_rps == pytest.approx(200.0, rel=TOLERANCE)
    assert cores < 0.5, f"the event loop used {cores:.2f} cores: it should wait, not work"
    # One event loop, not a thread per connection: the main thread and the lifeline, whatever the 32 clients.
    assert psutil.Process(demo.pid).num_threads() <= 3
    downstream = peer_ports(demo.pid)
    assert len(downstream) == 1, downstream  # one downstream service...
    calls = [c for c in psutil.Process(demo.pid).net_connections("tcp") if c.raddr and c.raddr.port in downstream]
    assert len(calls) == 4  # ... over exactly `concurrency` keep-alive connections


# ---- proxy ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("demo", [("proxy", {"slots": "4", "delay_ms": "20"})], indirect=True)
def test_proxy_is_nginx_in_front_of_the_slow_upstream(demo: DemoServer) -> None:
    assert demo.capacity_rps == pytest.approx(200.0)
    nginx = psutil.Process(demo.pid)
    assert nginx.name() == "nginx", nginx.name()
    workers = [p for p in nginx.children() if p.name() == "nginx"]
    assert len(workers) == 1
    before, t0 = cpu_seconds([demo.pid, workers[0].pid]), time.monotonic()
    load = hammer(demo.url, connections=16, seconds=3.0)
    after, wall = cpu_seconds([demo.pid, workers[0].pid]), time.monotonic() - t0
    assert load.errors == 0, load.statuses
    assert load.ok_rps == pytest.approx(200.0, rel=TOLERANCE)
    assert sum(after[p] - before[p] for p in after) / wall < 0.3  # nginx waits on its upstream
    assert len(peer_ports(workers[0].pid)) == 1  # nginx's worker keeps connections to the one upstream
    pids = list(demo.pids)
    demo.stop()
    assert wait_until(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                                      for p in pids), 5.0), "a proxy process outlived the demo"


# ---- quota ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("demo", [("quota", {"quota_cpus": "0.5", "work_ms": "10"})], indirect=True)
def test_quota_throttles_the_server_to_its_quota(demo: DemoServer) -> None:
    assert demo.capacity_rps == pytest.approx(50.0)
    path = cgroup_of(demo.pid)
    assert Path(path).name.startswith(PREFIX), path
    root = quota_root()
    assert root is not None
    directory = root.mount / path.lstrip("/")
    stat = directory / "cpu.stat"
    throttled = dict(line.split() for line in stat.read_text().splitlines())
    before, t0 = cpu_seconds([demo.pid]), time.monotonic()
    load = hammer(demo.url, connections=8, seconds=4.0)
    cores = (cpu_seconds([demo.pid])[demo.pid] - before[demo.pid]) / (time.monotonic() - t0)
    after = dict(line.split() for line in stat.read_text().splitlines())
    assert load.errors == 0, load.statuses
    assert load.ok_rps == pytest.approx(50.0, rel=TOLERANCE)
    assert cores == pytest.approx(0.5, rel=TOLERANCE), f"{cores:.2f} cores under a 0.5 CPU quota"
    assert int(after["nr_throttled"]) - int(throttled["nr_throttled"]) >= 10, after
    demo.stop()
    assert wait_until(lambda: not directory.exists(), 3.0), f"{directory} outlived the demo"


def test_quota_cgroup_goes_when_bottlenecktop_is_killed(tmp_path: Path) -> None:
    """SIGKILL of the process that started the demo: the server still leaves its cgroup and removes it."""
    parent = subprocess.Popen([sys.executable, "-m", "bottlenecktop.demo", "--bottleneck", "quota"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        match = re.search(r"pid (\d+)", line)
        assert match, f"{line!r} {parent.stderr.read() if parent.poll() is not None and parent.stderr else ''}"
        server = int(match.group(1))
        root = quota_root()
        assert root is not None
        directory = root.mount / cgroup_of(server).lstrip("/")
        assert directory.exists() and directory.name.startswith(PREFIX)
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        assert wait_until(lambda: not psutil.pid_exists(server), 5.0), "the quota server outlived its parent"
        assert wait_until(lambda: not directory.exists(), 3.0), f"{directory} outlived a SIGKILL"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(5)


def test_quota_cgroup_goes_when_the_server_itself_is_killed() -> None:
    """SIGKILL of the server: it cannot clean up, so the launcher removes its cgroup when it stops the demo."""
    demo = start_demo("quota")
    try:
        root = quota_root()
        assert root is not None
        directory = root.mount / cgroup_of(demo.pid).lstrip("/")
        os.kill(demo.pid, signal.SIGKILL)
        assert wait_until(lambda: not psutil.pid_exists(demo.pid) or psutil.Process(demo.pid).status() == "zombie",
                          3.0)
        assert directory.exists()  # nobody has cleaned it yet
    finally:
        demo.stop()
    assert not directory.exists(), f"{directory} outlived the demo"


def test_quota_without_a_writable_cgroup_says_so_in_one_line() -> None:
    """No cgroup to make (none mounted: a private mount namespace with /sys/fs/cgroup unmounted, for real): one
    line on stderr and exit status 2, no traceback, before any server starts."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.fail("this test unmounts the cgroups in a private mount namespace: it needs root and unshare")
    command = [sys.executable, "-m", "bottlenecktop", "demo", "--bottleneck", "quota", "--headless", "--no-record"]
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                             'umount -R /sys/fs/cgroup && exec "$@"', "sh", *command],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cgroup" in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert Path("/sys/fs/cgroup/cpu").exists() or quota_root() is None  # our own namespace was left alone


# ---- leak ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("demo", [("leak", {"kib": "256", "cap_mib": "16"})], indirect=True)
def test_leak_keeps_its_kib_per_request_until_the_fuse(demo: DemoServer) -> None:
    proc = psutil.Process(demo.pid)
    rss = proc.memory_info().rss
    load = hammer(demo.url, connections=1, seconds=10.0, max_requests=100)
    assert load.statuses[200] == 16 * 1024 // 256, load.statuses  # 64 requests fill the 16 MiB fuse...
    assert load.statuses[507] == 100 - 64, load.statuses  # ... past it, nothing more is kept
    grown = proc.memory_info().rss - rss
    assert grown == pytest.approx(load.statuses[200] * 256 * 1024, rel=TOLERANCE), f"RSS grew {grown} bytes"


# ---- the verdict, headless (slow: real ramps; run one at a time under the lock) -------------------------------------

# kind -> (extra arguments, the resource a person would name, limit by construction in req/s or None)
VERDICTS: dict[str, tuple[list[str], str, float | None]] = {
    "async-downstream": (["--start-rps", "70"], "downstream", 200.0),
    "proxy": (["--start-rps", "70"], "downstream", 200.0),
    "quota": (["--start-rps", "18"], "cpu", 50.0),
    # Capped at 200 req/s (50 MiB/s kept) so a shared machine keeps its memory; the fuse is the second line.
    "leak": (["--start-rps", "60", "--max-rps", "200"], "memory", None),
}


def run_demo(kind: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    extra = VERDICTS[kind][0]
    verdict_path = tmp_path / "v.json"
    cmd = [sys.executable, "-m", "bottlenecktop", "demo", "--bottleneck", kind, *extra, "--headless",
           "--json", str(verdict_path), "--record", str(tmp_path / "run.btrec"), "--step-seconds", "2",
           "--max-time", "80"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=150, cwd=ROOT, stdin=subprocess.DEVNULL)
    assert verdict_path.exists(), result.stderr[-3000:]
    return result, json.loads(verdict_path.read_text())


def scope_problem(kind: str, verdict: Any) -> str | None:
    scope, target = verdict["bottleneck"]["scope"], verdict["target"]
    if kind in ("async-downstream", "proxy"):
        own = int(str(target["url"]).rsplit(":", 1)[1].strip("/"))
        peers = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", scope)]
        if not [p for p in peers if p != own]:
            return "the slow service's address 127.0.0.1:PORT"
    if kind == "quota" and not re.search(rf"^cgroup \S*/{re.escape(PREFIX)}\d+-\d+ \(quota 0\.5 CPU\)", scope):
        return "cgroup PATH (quota 0.5 CPU)"
    if kind == "leak" and not re.search(rf"\bpid {target['pid']}\b", scope):
        return f"the leaking pid {target['pid']}"
    return None


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(VERDICTS))
def test_new_demo_kind_verdict(kind: str, tmp_path: Path) -> None:
    result, verdict = run_demo(kind, tmp_path)
    _, resource, capacity = VERDICTS[kind]
    neck = verdict["bottleneck"]
    why = (f"\nverdict: {neck['resource']} / {neck['scope']!r} / magic {verdict['capacity']['max_sustainable_rps']}"
           f"\nevidence: {neck['evidence']}\n{result.stdout[-2500:]}")
    assert verdict_problems(verdict) == [], why
    assert neck["resource"] == resource, f"{kind}: expected {resource}{why}"
    missing = scope_problem(kind, verdict)
    assert missing is None, f"{kind}: the scope does not name {missing}{why}"
    if capacity is not None:
        best = verdict["capacity"]["max_sustainable_rps"]
        assert best is not None and abs(best - capacity) <= TOLERANCE * capacity, f"{kind}: {best} vs {capacity}{why}"
    assert not stale_quota_cgroups() or kind != "quota", stale_quota_cgroups()
