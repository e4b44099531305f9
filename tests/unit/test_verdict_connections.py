"""The verdict's connections: the cap, how far the driver's connections grew, who waited for one and from when."""

from __future__ import annotations

import msgspec

from bottlenecktop.analysis.verdict import build_verdict
from bottlenecktop.probes.samples import AgentFigures
from bottlenecktop.summary import summary_text
from tests.support.timeline_builder import TimelineBuilder, header, node, proc


def _ramp(capped_from: float | None) -> TimelineBuilder:
    """Steps whose connections grow with the rate; from ``capped_from`` on all 256 are busy and requests wait."""
    b = TimelineBuilder(header())
    for rate in (100.0, 150.0, 225.0, 340.0):
        b.step(rate, achieved=min(rate, 250.0), p99=5 if rate <= 250 else 900, node=node(busy=10),
               target=proc(cpu=10))
        start = len(b.frames) - 5
        for f in b.frames[start:]:
            assert f.load is not None
            over = capped_from is not None and rate >= capped_from
            f.load = msgspec.structs.replace(
                f.load, max_connections=256, connections=256 if over else int(rate / 10),
                waited=int(rate * 0.8) if over else 0, conn_late=int(rate * 0.5) if over else 0,
                wait_p99_ms=400.0 if over else 0.0)
    b.outcome(225, p99=5, reason="p99")
    return b


def test_a_ramp_past_the_cap_says_from_when_requests_waited_and_what_that_means() -> None:
    b = _ramp(capped_from=340.0)
    v = build_verdict(b.header, b.frames)
    c = v.connections
    assert c is not None
    assert (c.cap, c.peak, c.capped) == (256, 256, True)
    assert c.waited == 5 * int(340 * 0.8) and c.waited_late == 5 * 170 and c.wait_p99_ms == 400.0
    assert c.from_rps == 340.0 and c.from_t == b.frames[15].t
    assert "every connection up to the cap was busy" in c.effect and "--connections N" in c.effect
    assert "50 % of those offered from then" in c.effect, c.effect
    text = summary_text(v)
    assert "Connections: from 340 req/s offered" in text and "counts from the time each was meant" in text
    assert "does not count as the driver sending late" in text


def test_a_ramp_within_the_cap_has_the_figures_but_no_summary_line() -> None:
    b = _ramp(capped_from=None)
    v = build_verdict(b.header, b.frames)
    c = v.connections
    assert c is not None and not c.capped and c.peak == 34 and c.waited_late == 0 and c.from_rps is None
    assert c.effect == "the driver held at most 34 connections of 256; no request waited over 50 ms for one"
    assert "Connections:" not in summary_text(v)


def test_without_a_driver_there_is_no_connections_section() -> None:
    b = TimelineBuilder(header(mode="observe"))
    b.ticks(6, node=node(busy=10), target=proc(cpu=10))
    v = build_verdict(b.header, b.frames)
    assert v.connections is None and v.to_json_dict()["connections"] is None


def test_one_agent_at_its_cap_is_capped_though_the_merged_seconds_are_not() -> None:
    # Two agents, each capped at 256: one holds all 256, the other 200. Merged: 456 of 512.
    b = _ramp(capped_from=340.0)
    for f in b.frames:
        assert f.load is not None
        if f.load.connections == 256:
            f.load = msgspec.structs.replace(f.load, connections=456, max_connections=512, agents=[
                AgentFigures(agent=0, connections=256, max_connections=256),
                AgentFigures(agent=1, connections=200, max_connections=256)])
    c = build_verdict(b.header, b.frames).connections
    assert c is not None and c.capped and c.peak == 456 and c.cap == 512
    assert "every connection up to the cap was busy" in c.effect, c.effect


def test_a_lone_second_of_waits_early_in_the_ramp_is_not_where_the_waits_began() -> None:
    # A clean machine's CI run: the target paused once in the first step (8 connections, 700 req/s offered), then
    # requests waited for a connection only near its capacity. "From" is where the waits kept on.
    b = _ramp(capped_from=340.0)
    first = b.frames[1].load
    assert first is not None
    b.frames[1].load = msgspec.structs.replace(first, conn_late=3, waited=5, wait_p99_ms=60.0)
    c = build_verdict(b.header, b.frames).connections
    assert c is not None and c.from_rps == 340.0 and c.from_t == b.frames[15].t, c
    assert c.waited_late == 5 * 170 + 3
