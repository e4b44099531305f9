"""Load agents on two "hosts": a running Dask scheduler with one LOADGEN worker here and one inside a network
namespace the test made (its own address, reached over a veth pair), against nginx on this side's address.
Through the real CLI (`--cluster`). The namespace's agent has a small CPU (its driver process moved into a
cgroup with a CPU quota, the way a small load host looks): it sends late, and the verdict names that agent, on
its host, as the limit and says how many agents the next run needs."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.netns import NamespaceHost, namespace_host, unavailable
from tests.support.nginx_ok import free_port_on, nginx_ok, wait_listen
from tests.support.paths import ROOT
from tests.support.realservers import cpu_cgroup, set_quota, writable_cpu_cgroup_root

pytest.importorskip("distributed")
if (why := unavailable()) is not None:
    pytest.skip(why, allow_module_level=True)

RATE = 2400.0  # req/s in all: 1200 for each agent, about twice what the small host can send
QUOTA_CPUS = 0.01  # the namespace agent's driver: 1 ms of CPU per 100 ms, a fraction of what 1200 req/s need


@contextlib.contextmanager
def _procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in reversed(procs):
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


def _worker(scheduler: str, host: str, prefix: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*prefix, sys.executable, "-m", "distributed.cli.dask_worker", scheduler,
                             "--resources", "LOADGEN=1", "--nthreads", "1", "--host", host, "--no-dashboard"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_workers(scheduler: str, n: int) -> None:
    from distributed import Client

    with Client(scheduler, timeout=20) as client:
        client.wait_for_workers(n, timeout=60)


def _drivers_of(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return [p for p in psutil.Process(pid).children(recursive=True)
                if "bottlenecktop.probes.load.worker" in " ".join(p.cmdline())]
    return []


def _sending(pid: int) -> bool:
    """Has the driver ``pid`` sockets open (its connections to nginx): has the load begun? (Its sockets are in
    the namespace, where this side's /proc/net does not look; its fds say so from anywhere.)"""
    fd_dir = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd).startswith("socket:"):
                    return True
    return False


@pytest.mark.slow
@pytest.mark.skipif(writable_cpu_cgroup_root() is None, reason="no writable cgroup with a cpu controller")
def test_an_agent_on_a_small_second_host_is_named_as_the_limit() -> None:
    with namespace_host() as ns, nginx_ok(ns.here) as url, tempfile.TemporaryDirectory(prefix="bt-2hosts-") as d, \
            _procs() as procs:
        run(ns, url, Path(d), procs)


def run(ns: NamespaceHost, url: str, d: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    sched_port = free_port_on(ns.here)
    scheduler = f"tcp://{ns.here}:{sched_port}"
    procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", ns.here,
                                   "--port", str(sched_port), "--no-dashboard"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_listen(ns.here, sched_port, procs[-1], "dask scheduler")
    procs.append(_worker(scheduler, ns.here, []))
    there = _worker(scheduler, ns.there, ns.exec_prefix())
    procs.append(there)
    _wait_workers(scheduler, 2)

    verdict_path = d / "v.json"
    cmd = [sys.executable, "-m", "bottlenecktop", url, "--cluster", scheduler, "--yes",
           "--headless", "--json", str(verdict_path), "--start-rps", str(RATE), "--max-rps", str(RATE),
           "--step-seconds", "2", "--max-time", "25", "--record", str(d / "run.btrec")]
    # The small host's driver joins a cgroup of a whole CPU as soon as it starts (its imports at full speed),
    # and the quota drops to QUOTA_CPUS once it has connections open to nginx: the load has begun.
    with cpu_cgroup(1.0) as (cgroup_dir, _):
        cli = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               stdin=subprocess.DEVNULL)
        moved: list[int] = []
        throttled = False
        deadline = time.monotonic() + 60
        while not throttled and cli.poll() is None and time.monotonic() < deadline:
            if not moved:
                for p in _drivers_of(there.pid):  # the small host's driver, and only it
                    (cgroup_dir / "cgroup.procs").write_text(str(p.pid))
                    moved.append(p.pid)
            elif _sending(moved[0]):
                set_quota(cgroup_dir, QUOTA_CPUS)
                throttled = True
            time.sleep(0.02)
        out, err = cli.communicate(timeout=120)
    assert moved and throttled, err[-2000:]
    assert cli.returncode == 0 and verdict_path.exists(), err[-3000:]
    v = json.loads(verdict_path.read_text())
    print(out, err[-2000:])
    load = v["load"]
    assert load["count"] == 2, (load, err[-3000:])
    # Each agent is on its own host, its address the one its worker listens on; the order is the workers'.
    small = next(a for a in load["agents"] if ns.there in a["host"])
    big = next(a for a in load["agents"] if ns.here in a["host"])
    assert small["pid"] == moved[0]
    # The namespace host's traffic reached nginx across the veth pair, and the host here sent on time.
    assert small["achieved_rps"] > 0 and small["late"] > 0, small
    assert big["late"] == 0, big
    assert load["limiting_agent"] == small["agent"], load
    assert load["suggested_agents"] >= 3, load
    assert ns.there in load["limit"] and "--agents" in load["limit"], load["limit"]
    assert v["bottleneck"]["resource"] == "load-driver" and v["capacity"]["lower_bound"] is True, v["bottleneck"]
    assert f"load agent {small['agent']} on " in err and "late" in err, err[-2000:]
