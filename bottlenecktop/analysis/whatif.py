"""The next question, answered from what was measured: what would it take to go higher (``what_if``), and
where a load shedder in front of the target should start refusing (``admission``).

Each estimate is a first-order law over the run's own figures (Little's law, Amdahl's law), capped by the
other ceilings the run measured, and says its basis. Pure functions over the timeline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bottlenecktop.analysis.findings import Finding
from bottlenecktop.analysis.knee import steps_of
from bottlenecktop.probes.samples import DownstreamPeer, StepResult
from bottlenecktop.session import Frame
from bottlenecktop.verdict_types import Admission, WhatIf

POOL_FULL = 0.8  # outstanding / connections: the pool to a downstream is what runs out
MIN_SHARE = 0.05  # a leading function below this share of the CPU is not worth an estimate


def _r(x: float) -> float:
    return round(x, 1)


def _capped(estimate: float, caps: dict[str, float], own: str) -> tuple[float, str]:
    """``estimate`` no higher than the other resources' ceilings; the ceiling that caps it, said."""
    others = {k: v for k, v in caps.items() if k != own and v > 0}
    if others:
        name, cap = min(others.items(), key=lambda kv: kv[1])
        if cap < estimate:
            return cap, f"; capped at {cap:.0f} req/s, where {name} would run out"
    return estimate, ""


def _functions(frames: Sequence[Frame], t0: float, t1: float) -> dict[str, float]:
    """Own share (%) of the running samples per function over the stack windows in [t0, t1], by samples."""
    shares: dict[str, float] = {}
    total = 0
    for f in frames:
        w = f.stacks
        if w is None or not w.samples or w.t_end < t0 or w.t_start > t1:
            continue
        total += w.samples
        for fn in w.functions:
            shares[fn.name] = shares.get(fn.name, 0.0) + fn.own_pct * w.samples
    return {k: v / total for k, v in shares.items()} if total else {}


def _leading_function(frames: Sequence[Frame], lead: Finding) -> tuple[str, float] | None:
    shares = _functions(frames, lead.t_start, lead.t_end)
    if not shares:
        return None
    name, pct = max(shares.items(), key=lambda kv: kv[1])
    return (name, pct / 100.0) if pct / 100.0 >= MIN_SHARE else None


def _top_peer(frames: Sequence[Frame], lead: Finding) -> tuple[str, float, float] | None:
    """The downstream with the most requests outstanding over the finding: (peer, mean connections, mean
    outstanding)."""
    seen: dict[str, list[DownstreamPeer]] = {}
    for f in frames:
        if f.peers is None or not lead.t_start <= f.t <= lead.t_end:
            continue
        for p in f.peers.downstream:
            seen.setdefault(p.peer, []).append(p)
    if not seen:
        return None
    peer, rows = max(seen.items(), key=lambda kv: sum(p.outstanding for p in kv[1]))
    n = len(rows)
    return peer, sum(p.sockets for p in rows) / n, sum(p.outstanding for p in rows) / n


def _first(steps: Sequence[StepResult]) -> StepResult | None:
    good = [s for s in steps if s.sustained and s.achieved_rps > 0]
    return min(good, key=lambda s: s.offered_rps) if good else None


def what_if(frames: Sequence[Frame], lead: Finding | None, magic_rps: float | None,
            caps: dict[str, float]) -> list[WhatIf]:
    """Estimates of the capacity after one change to the bottleneck; empty where no law applies."""
    if lead is None or not magic_rps or magic_rps <= 0:
        return []
    m = magic_rps
    steps = steps_of(frames)
    out: list[WhatIf] = []
    if lead.resource == "lock":
        first = _first(steps)
        if first is not None and first.p50_ms > 0:
            hold = first.p50_ms
            slots = m * hold / 1000.0
            est, cap = _capped(2 * m, caps, "lock")
            out.append(WhatIf(resource="lock", change="the time each request holds the lock halved",
                              estimate_rps=_r(est), factor=round(est / m, 2),
                              basis=f"slots / hold time: {m:.0f} req/s with a hold of about {hold:.1f} ms (the "
                                    f"uncontended latency at {first.offered_rps:.0f} req/s) is about {slots:.1f} "
                                    f"requests holding at once; the same slots with {hold / 2:.1f} ms admit "
                                    f"{2 * m:.0f} req/s{cap}"))
    elif lead.resource == "downstream":
        top = _top_peer(frames, lead)
        if top is not None and top[2] > 0:
            peer, sockets, outstanding = top
            latency = outstanding / m * 1000.0  # Little's law: ms of downstream time per request
            if sockets > 0 and outstanding >= POOL_FULL * sockets:
                change = f"twice the connections to {peer} (about {sockets:.0f} now)"
                why = "the connections were all busy: the pool is what runs out"
            else:
                change = f"{peer} answering in half the time ({latency / 2:.1f} ms)"
                why = "connections were left idle: the downstream's latency is what runs out"
            est, cap = _capped(2 * m, caps, "downstream")
            out.append(WhatIf(resource="downstream", change=change, estimate_rps=_r(est), factor=round(est / m, 2),
                              basis=f"Little's law: {outstanding:.1f} requests outstanding at {peer} at {m:.0f} "
                                    f"req/s is {latency:.1f} ms of it per request; {why}; doubling that "
                                    f"concurrency per latency doubles the rate{cap}"))
    elif lead.resource in ("cpu", "cpu-thread"):
        leading = _leading_function(frames, lead)
        if leading is not None:
            name, share = leading
            if lead.resource == "cpu":
                speedup = 1.0 / (1.0 - share / 2)
                change = f"{name} twice as fast"
                law = (f"Amdahl's law: {name} is {share * 100:.0f} % of the target's CPU per request; halving "
                       f"it saves {share * 50:.0f} % of each request's CPU")
            else:
                speedup = 1.0 / max(1.0 - share, 0.05)
                change = f"{name} moved off the saturated thread"
                law = (f"Amdahl's law: {name} is {share * 100:.0f} % of the busy thread's time; the thread "
                       f"keeps the other {100 - share * 100:.0f} %")
            est, cap = _capped(m * speedup, caps, lead.resource)
            out.append(WhatIf(resource=lead.resource, change=change, estimate_rps=_r(est),
                              factor=round(est / m, 2), basis=f"{law}: x{speedup:.2f}{cap}"))
        elif "cpu" in caps and lead.resource == "cpu":
            # No stacks (not Python): the CPU per request itself is the lever.
            est = 2 * m
            out.append(WhatIf(resource="cpu", change="half the CPU per request (or twice the cores)",
                              estimate_rps=_r(est), factor=2.0,
                              basis=f"the CPU ran out at {m:.0f} req/s; the rate scales with cores / CPU per "
                                    "request while the CPU is the limit"))
    return out


def admission(frames: Sequence[Frame], knee: StepResult | None, magic_rps: float | None) -> Admission | None:
    """The concurrency and the rate at which a load shedder in front of the target should start refusing, so
    that overload becomes fast refusals instead of a queue."""
    if not magic_rps or magic_rps <= 0:
        return None
    at = knee if knee is not None else None
    if at is None:
        sustained = [s for s in steps_of(frames) if s.sustained]
        at = max(sustained, key=lambda s: s.achieved_rps) if sustained else None
    if at is None or at.achieved_rps <= 0:
        return None
    flying = [f.load.in_flight for f in frames
              if f.load is not None and f.load.step == at.step and at.t_start < f.load.t <= at.t_end + 0.01]
    # Little's law at the magic number with the latency of the knee, where requests do not yet queue: the
    # concurrency that lets the magic number through and no queue beyond it.
    little = magic_rps * at.p50_ms / 1000.0
    concurrency = max(1, math.ceil(little))
    basis = (f"Little's law: the magic number x the latency at the knee, {magic_rps:.0f} req/s x {at.p50_ms:.1f} ms "
             f"(p50 at {at.achieved_rps:.0f} req/s) = {little:.1f} in flight")
    if flying:
        basis += f"; {sum(flying) / len(flying):.1f} were measured in flight at the knee"
    return Admission(max_in_flight=concurrency, refuse_above_rps=_r(magic_rps),
                     basis=f"{basis}; refuse above the magic number ({magic_rps:.0f} req/s) so that past it "
                           "requests fail fast instead of queueing")
