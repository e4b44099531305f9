"""Across the knee, a lock that the kernel sees (futex waits of the working threads, any language) is named when
the overloaded steps were too short for the lock rule's window."""

from __future__ import annotations

from bottlenecktop.analysis.attribution import at_knee, working_futex
from bottlenecktop.analysis.knee import steps_of
from tests.support.timeline_builder import TimelineBuilder, header, node, proc, stacks, waits


def _ramp(futex_past: float, gil: float | None = None) -> TimelineBuilder:
    b = TimelineBuilder(header(ncpu=2))
    quiet = waits(threads=6, running=0.5, sleep=3, idle=1, socket=1.5, peers=[("clients of :8000", "client", 1.5)])
    b.step(100, p50=21, p99=23, node=node(busy=8, ncpu=2), target=proc(cpu=8), waits=quiet)
    b.step(150, p50=21, p99=25, node=node(busy=9, ncpu=2), target=proc(cpu=9), waits=quiet)
    # Past the knee: 60 threads, most of the working ones blocked on a futex, the rest idle on keep-alive reads.
    busy = waits(threads=60, futex=futex_past, running=1, sleep=3,
                 socket=56 - futex_past, peers=[("clients of :8000", "client", 56 - futex_past)])
    window = stacks([("MainThread", 40, {}, "")], gil=gil) if gil is not None else None
    b.step(225, achieved=195, p50=200, p99=600, seconds=2, node=node(busy=9, ncpu=2), target=proc(cpu=9),
           waits=busy, stacks=window)
    return b


def test_futex_waits_rising_across_the_knee_name_the_lock() -> None:
    b = _ramp(futex_past=30)
    lead = at_knee(b.header, b.frames, steps_of(b.frames))
    assert lead is not None and lead.resource == "lock" and lead.scope == "pid 4242", lead
    assert "blocked on a futex (a lock or a condition) went from 0 % at 100 req/s to 97 % past it" in lead.evidence[0]
    assert lead.evidence[1].startswith("missing: ")


def test_the_working_share_leaves_out_threads_idle_on_their_clients() -> None:
    w = waits(threads=60, futex=30, running=1, sleep=3, socket=26, peers=[("clients of :8000", "client", 26)])
    assert round(working_futex(w) or 0) == 97


def test_futex_waits_of_threads_queueing_for_the_gil_are_not_a_lock() -> None:
    b = _ramp(futex_past=30, gil=90.0)
    lead = at_knee(b.header, b.frames, steps_of(b.frames))
    assert lead is None or lead.resource != "lock"


def test_no_attribution_from_this_box_when_the_target_is_on_other_nodes() -> None:
    b = TimelineBuilder(header(ncpu=2, local=False))
    b.step(100, p50=21, p99=23, node=node(busy=10, ncpu=2, psi=0))
    b.step(225, achieved=150, p99=600, sustained=False, node=node(busy=99, ncpu=2, psi=60, runq=6))
    assert at_knee(b.header, b.frames, steps_of(b.frames)) is None
