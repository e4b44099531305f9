"""What it would take to go higher (what_if) and where to refuse (admission), from the run's own figures."""

from __future__ import annotations

import msgspec

from bottlenecktop.analysis.findings import Finding
from bottlenecktop.analysis.whatif import admission, what_if
from bottlenecktop.probes.samples import DownstreamPeer, FunctionShare, PeersSample
from bottlenecktop.verdict_types import FindingResource
from tests.support.timeline_builder import TimelineBuilder, header, node, proc, stacks


def _lead(resource: FindingResource, b: TimelineBuilder) -> Finding:
    return Finding(resource=resource, severity="saturated", score=0.9, scope="pid 4242", evidence=["..."],
                   t_start=0.0, t_end=b.t)


def _ramp(p50_first: float = 20.0) -> TimelineBuilder:
    b = TimelineBuilder(header(ncpu=2))
    b.step(100, p50=p50_first, p99=25, node=node(busy=10, ncpu=2), target=proc(cpu=10))
    b.step(150, p50=21, p99=27, node=node(busy=12, ncpu=2), target=proc(cpu=12))
    b.step(225, achieved=198, p50=200, p99=450, node=node(busy=14, ncpu=2), target=proc(cpu=14))
    return b


def test_halving_the_lock_hold_time_doubles_the_estimate() -> None:
    b = _ramp()
    [w] = what_if(b.frames, _lead("lock", b), 200.0, {})
    assert w.resource == "lock" and w.estimate_rps == 400.0 and w.factor == 2.0
    assert "about 20.0 ms" in w.basis and "about 4.0 requests holding at once" in w.basis
    [capped] = what_if(b.frames, _lead("lock", b), 200.0, {"cpu": 300.0})
    assert capped.estimate_rps == 300.0 and "where cpu would run out" in capped.basis


def test_cpu_is_amdahl_over_the_leading_function() -> None:
    b = TimelineBuilder(header(ncpu=2))
    window = stacks([("MainThread", 100, {}, "")])
    window = msgspec.structs.replace(window, functions=[FunctionShare(name="burn (work.py:12)", own_pct=80.0,
                                                                      total_pct=95.0),
                                                        FunctionShare(name="parse (http.py:3)", own_pct=10.0,
                                                                      total_pct=12.0)])
    b.step(100, node=node(busy=95, ncpu=2), target=proc(cpu=190), stacks=window)
    [w] = what_if(b.frames, _lead("cpu", b), 200.0, {})
    # Halving a function that is 80 % of the CPU per request: 1 / (1 - 0.4) = 1.67x.
    assert w.change == "burn (work.py:12) twice as fast" and w.factor == 1.67 and w.estimate_rps == 333.3
    [t] = what_if(b.frames, _lead("cpu-thread", b), 100.0, {})
    assert t.change == "burn (work.py:12) moved off the saturated thread" and t.estimate_rps == 500.0


def test_a_full_pool_to_a_downstream_says_more_connections() -> None:
    b = TimelineBuilder(header(ncpu=2))
    full = PeersSample(downstream=[DownstreamPeer(peer="127.0.0.1:5432", sockets=16, outstanding=15)])
    b.step(200, node=node(busy=10, ncpu=2), target=proc(cpu=10), peers=full)
    [w] = what_if(b.frames, _lead("downstream", b), 200.0, {})
    assert w.change == "twice the connections to 127.0.0.1:5432 (about 16 now)" and w.estimate_rps == 400.0
    assert "75.0 ms of it per request" in w.basis
    idle = PeersSample(downstream=[DownstreamPeer(peer="127.0.0.1:5432", sockets=64, outstanding=15)])
    b2 = TimelineBuilder(header(ncpu=2))
    b2.step(200, node=node(busy=10, ncpu=2), target=proc(cpu=10), peers=idle)
    [w2] = what_if(b2.frames, _lead("downstream", b2), 200.0, {})
    assert w2.change == "127.0.0.1:5432 answering in half the time (37.5 ms)"


def test_no_law_no_estimate() -> None:
    b = _ramp()
    assert what_if(b.frames, _lead("fds", b), 200.0, {}) == []
    assert what_if(b.frames, None, 200.0, {}) == []
    assert what_if(b.frames, _lead("lock", b), None, {}) == []


def test_admission_is_littles_law_at_the_knee_and_the_magic_number() -> None:
    b = _ramp()
    knee = [f.step for f in b.frames if f.step is not None][1]
    a = admission(b.frames, knee, 197.0)
    assert a is not None
    assert a.refuse_above_rps == 197.0
    # 197 req/s x 21 ms = 4.1: five at once let the magic number through.
    assert a.max_in_flight == 5 and "197 req/s x 21.0 ms (p50 at 150 req/s) = 4.1 in flight" in a.basis
    assert admission(b.frames, knee, None) is None
