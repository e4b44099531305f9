"""Timelines shaped like the bundled demo kinds on a 2-core box with the driver on it: the verdict must name
the resource each kind is built around, and the magic number must come out as the ramp found it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bottlenecktop.analysis.verdict import build_verdict
from tests.support.timeline_builder import PID, TimelineBuilder, disk, driver, header, node, proc, stacks
from tests.support.verdict_shape import verdict_problems

KEEPALIVE = ("readinto (socket.py:707)", {"socket": 95.0})  # a handler waiting for its client's next request


def handlers(n: int, where: str, waits: dict[str, float]) -> list[tuple[str, int, dict[str, float], str]]:
    return [(f"Thread-{k}", 40, waits, where) for k in range(n)]


def ramp(parts_at: Callable[[float, bool], dict[str, Any]], capacity: float, driver_cpu: float = 40.0,
         p99_over: float = 900.0, errors_over: dict[str, int] | None = None) -> dict[str, Any]:
    """Ramp x1.5 from 20 req/s; steps above ``capacity`` fail. ``parts_at(rate, over)``: the frame parts."""
    b = TimelineBuilder(header(ncpu=2))
    rate, best = 20.0, 0.0
    while True:
        over = rate > capacity
        parts = parts_at(rate, over)
        if over:
            b.step(rate, achieved=capacity, p99=p99_over, errors=errors_over, driver=driver(cpu=driver_cpu),
                   **parts)
            break
        b.step(rate, p99=4.0 + 10 * rate / capacity, driver=driver(cpu=driver_cpu * rate / capacity), **parts)
        best = rate
        rate *= 1.5
    b.step(best, p99=20, phase="confirming", seconds=8, driver=driver(cpu=driver_cpu),
           **parts_at(best, False))
    b.outcome(best, p99=20.0, reason="p99" if not errors_over else "errors")
    return build_verdict(b.header, b.frames).to_json_dict()


def cpu_kind(rate: float, over: bool) -> dict[str, Any]:
    load = min(1.0, rate / 150)  # two worker processes; with the driver they fill both cores
    return {"node": node(busy=100 * load, ncpu=2, psi=40 * load, runq=int(1 + 4 * load)),
            "target": proc(cpu=150 * load, children=2, threads=[("MainThread", 2)])}


def gil_kind(rate: float, over: bool, driver_heavy: bool = False) -> dict[str, Any]:
    load = min(1.0, rate / 100)
    busy = (100 * load + (90 if driver_heavy else 40) * load + 10) / 2
    win = stacks([*handlers(6, *KEEPALIVE), ("worker", 200, {}, "")], gil=95 * load,
                 functions=[("spin (work.py:20)", 80, 90)])
    return {"node": node(busy=busy, ncpu=2, psi=5, runq=2),
            "target": proc(cpu=100 * load, threads=[("worker", 99 * load), ("Thread-1", 1)]), "stacks": win}


def lock_kind(rate: float, over: bool) -> dict[str, Any]:
    queued = 20 if over else int(4 * rate / 200)
    win = stacks(handlers(queued, "acquire (threading.py:500)", {"lock": 90.0})
                 + handlers(4, "sleep (work.py:40)", {"sleep": 95.0}) + handlers(10, *KEEPALIVE))
    return {"node": node(busy=6, ncpu=2), "target": proc(cpu=4), "stacks": win}


def downstream_kind(rate: float, over: bool) -> dict[str, Any]:
    calling = 24 if over else max(1, int(rate / 40))
    win = stacks(handlers(calling, "readinto (socket.py:707)", {"socket": 95.0}) + handlers(6, *KEEPALIVE),
                 functions=[("readinto (socket.py:707)", 90, 95),
                            ("getresponse (http/client.py:1390)", 0, 85 if over else 30)])
    return {"node": node(busy=7, ncpu=2), "target": proc(cpu=5), "stacks": win}


def disk_kind(rate: float, over: bool) -> dict[str, Any]:
    syncing = 16 if over else max(1, int(rate / 20))
    win = stacks(handlers(syncing, "fsync (work.py:60)", {"disk": 90.0}) + handlers(4, *KEEPALIVE))
    return {"node": node(busy=10, ncpu=2, iowait=12, psi_io=20 if over else 2,
                         disks=disk(85 if over else 30, queue=1.5, await_ms=4)),
            "target": proc(cpu=8), "stacks": win}


def fds_kind(rate: float, over: bool) -> dict[str, Any]:
    return {"node": node(busy=8, ncpu=2), "target": proc(cpu=6, fds=256 if over else 40, fd_limit=256)}


CASES: dict[str, tuple[Callable[[float, bool], dict[str, Any]], dict[str, Any]]] = {
    "cpu": (cpu_kind, {}),
    "cpu-thread": (gil_kind, {}),
    "lock": (lock_kind, {}),
    "downstream": (downstream_kind, {}),
    "disk": (disk_kind, {}),
    "fds": (fds_kind, {"errors_over": {"refused": 60, "reset": 5}, "p99_over": 40.0}),
}


@pytest.mark.parametrize("resource", list(CASES))
def test_each_demo_kind_gets_its_resource(resource: str) -> None:
    parts, kwargs = CASES[resource]
    v = ramp(parts, capacity=120.0, **kwargs)
    assert verdict_problems(v) == []
    assert v["bottleneck"]["resource"] == resource, v["findings"]
    assert v["bottleneck"]["confidence"] >= 0.6
    assert v["capacity"]["max_sustainable_rps"] == pytest.approx(101.25, abs=0.1)  # 20 x 1.5^4, the last step under 120


def test_gil_stays_cpu_thread_when_the_driver_fills_the_other_core() -> None:
    v = ramp(lambda rate, over: gil_kind(rate, over, driver_heavy=True), capacity=120.0, driver_cpu=90.0)
    assert v["bottleneck"]["resource"] == "cpu-thread"
    assert v["bottleneck"]["scope"] == f"pid {PID} thread worker"
