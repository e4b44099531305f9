"""The driver's connections to the target in a ramp: the open model opens one per request in flight, up to a
cap. Past it, requests wait for a free connection: their latency still counts from the time each was meant to
leave (so the wait is in p99), and it is not counted as the driver sending late."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from bottlenecktop.probes.load.engines.base import LATE_S
from bottlenecktop.probes.samples import LoadSecond
from bottlenecktop.session import Frame
from bottlenecktop.verdict_types import Connections


def _at_cap(s: LoadSecond) -> bool:
    """Every connection a driver may open was open: any one agent's (several agents sum their connections and
    caps in the merged second, so one agent at its cap would not show there)."""
    if s.agents:
        return any(a.max_connections > 0 and a.connections >= a.max_connections for a in s.agents)
    return s.max_connections > 0 and s.connections >= s.max_connections


def _waits_begin(loads: Sequence[LoadSecond]) -> LoadSecond | None:
    """The second from which requests kept waiting over LATE_S for a connection: the first of two in a row that
    had such waits (a lone second, such as a pause of the target while the ramp starts, is not where the cap began
    to bind), else the first second that had any; None when none had."""
    for a, b in pairwise(loads):
        if a.conn_late > 0 and b.conn_late > 0:
            return a
    return next((s for s in loads if s.conn_late > 0), None)


def connections_report(frames: Sequence[Frame]) -> Connections | None:
    """None without driver seconds (observe and attach modes)."""
    loads = [f.load for f in frames if f.load is not None and f.load.dt > 0]
    if not loads:
        return None
    cap = max(s.max_connections for s in loads)
    peak = max(s.connections for s in loads)
    offered = sum(s.offered_rps * s.dt for s in loads)
    waited = sum(s.waited for s in loads)
    late = sum(s.conn_late for s in loads)
    report = Connections(cap=cap, peak=peak, capped=any(_at_cap(s) for s in loads), waited=waited, waited_late=late,
                         wait_p99_ms=round(max(s.wait_p99_ms for s in loads), 2))
    first = _waits_begin(loads)
    if first is None:
        report.effect = (f"the driver held at most {peak} connections{f' of {cap}' if cap else ''}; no request "
                         f"waited over {LATE_S * 1000:.0f} ms for one")
        return report
    from_then = sum(s.offered_rps * s.dt for s in loads if s.t >= first.t)
    report.from_rps, report.from_t = round(first.offered_rps, 1), round(first.t, 1)
    share = late / from_then * 100 if from_then else 0.0
    capped_then = any(_at_cap(s) for s in loads if first.t - 1.0 <= s.t <= first.t + 1.0)
    why = ("every connection up to the cap was busy (a target that serves requests in parallel may take more "
           "with more of them: --connections N raises the cap)" if capped_then else
           f"{first.connections} connections were busy and more were opening")
    report.effect = (
        f"from {first.offered_rps:,.0f} req/s offered (t={first.t:.0f} s) {late:,} requests ({share:.0f} % of those "
        f"offered from then, {late / offered * 100 if offered else 0.0:.0f} % of the run) waited over "
        f"{LATE_S * 1000:.0f} ms for a free connection (p99 of the wait up to {report.wait_p99_ms:,.0f} ms): {why}; "
        "their latency counts from the time each was meant to leave, so the wait is in p99, and it does not count "
        "as the driver sending late")
    return report
