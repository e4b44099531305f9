"""The load driver is judged by its work: busy and on time is not the limit; late is."""

from __future__ import annotations

from bottlenecktop.analysis.findings import SATURATED
from bottlenecktop.analysis.use import find_findings
from tests.support.timeline_builder import TimelineBuilder, driver, header, load, node, proc


def test_a_busy_driver_that_sends_on_time_leaves_the_blame_with_the_target_thread() -> None:
    b = TimelineBuilder(header(ncpu=2))
    # The target's one thread at 98 % of a core; the driver at 99 % of the other, every request on time.
    b.ticks(12, node=node(busy=99, ncpu=2), driver=driver(cpu=99),
            target=proc(cpu=98, threads=[("MainThread", 98)]),
            load=load(2700, 2600, p99=900.0, driver_cpu=99, late=0, lag=1.5))
    findings = find_findings(b.header, b.frames)
    assert findings and findings[0].resource == "cpu-thread", findings
    assert all(f.resource != "load-driver" or f.severity != SATURATED for f in findings)


def test_a_busy_driver_that_sends_late_is_the_limit() -> None:
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(12, node=node(busy=70, ncpu=2), driver=driver(cpu=99), target=proc(cpu=30),
            load=load(50000, 40000, p99=300.0, driver_cpu=99, late=8000, lag=180.0))
    (f,) = [f for f in find_findings(b.header, b.frames) if f.resource == "load-driver"]
    assert f.severity == SATURATED
    assert "the magic number is a lower bound" in f.evidence[-1]
