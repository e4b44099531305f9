"""Servers nobody here wrote, each with a limit known by construction: bottlenecktop, ramping headless at each,
must name the resource a person would name, its scope (which process, thread, peer or cgroup) and a magic number
within +-15 % of the limit.

Run each alone under the shared lock (they are real ramps): ``flock /tmp/bottlenecktop-load.lock .venv/bin/python
-m pytest -q tests/integration/test_real_servers.py -k node``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support import realservers
from tests.support.paths import ROOT
from tests.support.realservers import RealTarget
from tests.support.verdict_shape import verdict_problems

TOLERANCE = 0.15
MAX_TIME_S = 80


@dataclass(frozen=True)
class Case:
    start: Callable[[Path], contextlib.AbstractContextManager[RealTarget]]
    resource: str
    start_rps: float  # about a third of the limit: three or four steps to reach it
    extra: tuple[str, ...] = ()
    tolerance: float = TOLERANCE  # of the magic number against the limit by construction


CASES: dict[str, Case] = {
    "postgres": Case(realservers.flask_postgres, "downstream", 70),
    # 10 ms per call (100 req/s): at 5 ms the Flask workers, the driver and the observer needed most of the other
    # core, and redis-server's one thread then waited for a CPU on a 2-core box (magic 105-158 of 200).
    "redis": Case(functools.partial(realservers.flask_redis, burn_ms=10.0), "downstream", 35),
    "node": Case(realservers.node_cpu, "cpu-thread", 85),
    "nginx-proxy": Case(realservers.nginx_proxy, "downstream", 70),
    # The ramp's search confirmed 157.5 of about 190 sustained once in five runs (the verdict right each time):
    # httpx's own time inside the semaphore makes the limit softer than 8 x 40 ms.
    "asyncio-httpx": Case(realservers.asyncio_httpx, "downstream", 70, tolerance=0.25),
    "cpu-quota": Case(realservers.cpu_quota, "cpu", 18),
    # Capped at 200 req/s: 50 MiB/s kept, so the run holds a few GB at most on a shared machine.
    "leak": Case(realservers.leaking, "memory", 60, ("--max-rps", "200")),
}


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RealTarget]:
    if request.param == "cpu-quota" and realservers.writable_cpu_cgroup_root() is None:
        pytest.fail("the cpu-quota case needs a writable cgroup with a cpu controller (run as root)")
    with CASES[request.param].start(tmp_path) as t:
        yield t


def run_bottlenecktop(t: RealTarget, case: Case, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    """One headless ramp at ``t``; the verdict it wrote. The recording stays in tmp_path for replay."""
    verdict_path = tmp_path / "v.json"
    cmd = [sys.executable, "-m", "bottlenecktop", t.url, "--headless", "--json", str(verdict_path),
           "--record", str(tmp_path / "run.btrec"), "--start-rps", f"{case.start_rps:g}", "--step-seconds", "2",
           "--max-time", str(MAX_TIME_S), *case.extra]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=MAX_TIME_S + 60, cwd=ROOT,
                            stdin=subprocess.DEVNULL)
    assert verdict_path.exists(), f"no verdict\n{result.stdout}\n{result.stderr[-3000:]}"
    return result, json.loads(verdict_path.read_text())


def explain(verdict: Any, result: subprocess.CompletedProcess[str]) -> str:
    neck = verdict["bottleneck"]
    return (f"\nverdict: {neck['resource']} / {neck['scope']!r} / magic "
            f"{verdict['capacity']['max_sustainable_rps']}\nevidence: {neck['evidence']}\n"
            f"findings: {[(f['resource'], f['severity']) for f in verdict['findings']]}\n{result.stdout[-2500:]}")


def names_pid(scope: str, pids: list[int]) -> bool:
    return any(re.search(rf"\bpid {pid}\b", scope) for pid in pids)


def tree(pid: int | None) -> list[int]:
    """``pid`` and its children (a postmaster's backends own the sockets the app talks to)."""
    if pid is None:
        return []
    with contextlib.suppress(psutil.Error):
        return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    return [pid]


def check_scope(name: str, t: RealTarget, scope: str) -> list[str]:
    """What the scope fails to name, for the case ``name``."""
    problems = []
    if t.peer is not None and t.peer not in scope:
        problems.append(f"the downstream's address {t.peer}")
    if name in ("postgres", "redis"):
        proc_name = "postgres" if name == "postgres" else "redis-server"
        if not (names_pid(scope, tree(t.peer_pid)) or proc_name in scope):
            problems.append(f"the local {proc_name} process (pid {t.peer_pid})")
    if name == "redis" and "thread" not in scope:
        problems.append("redis-server's one thread")
    if name == "node":
        main_thread = Path(f"/proc/{t.pid}/task/{t.pid}/comm").read_text().strip()
        if not names_pid(scope, [t.pid]):
            problems.append(f"node's pid {t.pid}")
        if not re.search(rf"thread ({re.escape(main_thread)}|{t.pid})\b", scope):
            problems.append(f"node's main thread ({main_thread}, tid {t.pid})")
    if name == "cpu-quota":
        assert t.cgroup is not None and t.quota_cpus is not None
        if not (scope.startswith("cgroup ") and t.cgroup in scope and f"{t.quota_cpus:g} CPU" in scope):
            problems.append(f"cgroup {t.cgroup} (quota {t.quota_cpus:g} CPU)")
    if name == "leak" and not names_pid(scope, [t.pid]):
        problems.append(f"the leaking pid {t.pid}")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("target", list(CASES), indirect=True)
def test_real_server_verdict(target: RealTarget, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    name = request.node.callspec.params["target"]
    case = CASES[name]
    result, verdict = run_bottlenecktop(target, case, tmp_path)
    why = explain(verdict, result)
    assert verdict_problems(verdict) == [], why
    # A pre-fork server's master or one of its workers: both are the process behind the port.
    assert verdict["target"]["pid"] in tree(target.pid), f"attached to pid {verdict['target']['pid']}{why}"
    neck = verdict["bottleneck"]
    assert neck["resource"] == case.resource, f"{name}: expected {case.resource}{why}"
    missing = check_scope(name, target, neck["scope"])
    assert not missing, f"{name}: the scope does not name {'; '.join(missing)}{why}"
    assert neck["evidence"], why
    if target.capacity_rps is not None:
        best = verdict["capacity"]["max_sustainable_rps"]
        assert best is not None and abs(best - target.capacity_rps) <= case.tolerance * target.capacity_rps, (
            f"{name}: magic number {best} vs {target.capacity_rps:g} by construction{why}")
