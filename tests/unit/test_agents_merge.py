"""The pure parts of several load agents: striped pacing is the one global schedule; merged seconds add up."""

from __future__ import annotations

import asyncio
import time

from bottlenecktop.probes.load.cluster.merge import AgentInfo, merge_second
from bottlenecktop.probes.load.cluster.messages import AgentSecond
from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.load.pacer import Pacer
from bottlenecktop.probes.load.stats import counts_of
from bottlenecktop.probes.load.worker.agent import AgentWorker
from bottlenecktop.probes.samples import LoadSecond


class Sink:
    def __init__(self) -> None:
        self.intended: list[float] = []

    def submit(self, intended: float, now: float) -> None:
        self.intended.append(intended)


async def _paced(index: int, count: int, base: float) -> list[float]:
    """Run a real pacer whose segment began 1 s ago (everything due is handed over at its first tick)."""
    sink = Sink()
    pacer = Pacer(sink)
    pacer.set_stripe(index, count)
    pacer.set_rate(100.0, base=base)
    task = asyncio.create_task(pacer.run())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    pacer.stop()
    await task
    return [t for t in sink.intended if t <= base + 1.0]


async def test_stripes_together_are_the_global_schedule() -> None:
    base = time.monotonic() - 1.0
    stripes = [await _paced(i, 3, base) for i in range(3)]
    whole = await _paced(0, 1, base)
    assert len(whole) == 101
    assert sorted(t for s in stripes for t in s) == whole
    assert [len(s) for s in stripes] == [34, 34, 33]


async def test_a_segment_based_later_sends_nothing_before_it() -> None:
    assert await _paced(0, 2, time.monotonic() + 5.0) == []


async def test_a_segment_with_a_known_end_sends_nothing_meant_after_it() -> None:
    # An agent that wakes late for the switch to the next segment must not send the old segment's arrivals
    # meanwhile: the two stripes would then differ by the lateness times the rate.
    sink = Sink()
    pacer = Pacer(sink)
    base = time.monotonic() - 1.0
    pacer.set_rate(100.0, base=base)
    pacer.end_at(base + 0.5)  # the next segment began half a second ago; this pacer has not switched yet
    task = asyncio.create_task(pacer.run())
    await asyncio.sleep(0.01)
    pacer.stop()
    await task
    assert len(sink.intended) == 50 and max(sink.intended) < base + 0.5


def _second(j: int, ok: int, lat: list[int], late: int, cpu: float) -> AgentSecond:
    counts = counts_of(lat)
    return AgentSecond(j=j, seg=1, offered=ok, lat=counts.buckets, lat_min_us=counts.min_us,
                       lat_max_us=counts.max_us,
                       load=LoadSecond(t=5.0, dt=1.0, sent=ok, completed=ok, ok=ok, late=late, driver_cpu_pct=cpu,
                                       lag_p99_ms=float(late), errors={"timeout": 1}))


def test_a_merged_second_sums_counts_merges_histograms_and_keeps_the_busiest_agent() -> None:
    a = _second(7, 3, [1000, 2000, 3000], late=0, cpu=20.0)
    b = _second(7, 2, [90_000, 100_000], late=4, cpu=80.0)
    merged = merge_second([(AgentInfo(0, "h0", 1), a), (AgentInfo(1, "h1", 2), b)], t=8.0)
    assert (merged.sent, merged.ok, merged.late) == (5, 5, 4)
    assert merged.errors == {"timeout": 2}
    assert merged.offered_rps == 5.0
    assert merged.driver_cpu_pct == 80.0 and merged.lag_p99_ms == 4.0
    assert merged.p50_ms == counts_of([1000, 2000, 3000, 90_000, 100_000]).percentiles().p50_ms
    assert merged.max_ms >= 99.0
    assert [(x.agent, x.host, x.sent, x.late) for x in merged.agents] == [(0, "h0", 3, 0), (1, "h1", 2, 4)]
    assert merged.hist  # the merged histogram is recorded, mergeable like any driver's


class IdleEngine(Sink):
    """Counts what the pacer hands over; nothing is ever out, so a drain ends as soon as sending stops."""

    busy = 0
    in_flight = 0

    def drop_queue(self) -> None:
        pass


async def test_agents_told_to_drain_at_one_instant_stop_together_however_late_the_message() -> None:
    # Two agents' stripes of one 2,000 req/s schedule; the drain reaches the second 40 ms after the first (Dask
    # calls from two threads, two hosts). Stopping on arrival would leave them 40 requests apart.
    emitted: list[tuple[str, object]] = []
    workers, sinks = [], []
    base = time.monotonic()
    for index in range(2):
        worker = AgentWorker(DriverConfig(url="http://127.0.0.1:9/"), lambda kind, v: emitted.append((kind, v)))
        sink = IdleEngine()
        worker.engine = sink  # type: ignore[assignment]
        worker.pacer = Pacer(sink)
        worker.pacer.set_stripe(index, 2)
        worker.pacer.set_rate(2000.0, base=base)
        workers.append(worker)
        sinks.append(sink)
    tasks = [asyncio.create_task(w.pacer.run()) for w in workers]
    at_wall = time.time() + 0.1
    workers[0].command("drain", at_wall)
    await asyncio.sleep(0.04)
    workers[1].command("drain", at_wall)
    await asyncio.wait_for(asyncio.gather(*(w._drain_task for w in workers if w._drain_task)), 2.0)
    for w in workers:
        w.pacer.stop()
    await asyncio.gather(*tasks)
    assert [kind for kind, _ in emitted] == ["d", "d"]
    counts = [len(s.intended) for s in sinks]
    assert abs(counts[0] - counts[1]) <= 1, counts
    assert sum(counts) >= 0.1 * 2000 * 0.9, counts  # both sent up to the instant, not from it
