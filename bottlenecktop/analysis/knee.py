"""The magic number, the knee of the latency curve, and how the target behaves past it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from bottlenecktop.probes.samples import RampEndReason, StepFailure, StepResult
from bottlenecktop.session import Frame, Slo
from bottlenecktop.verdict_types import GoodputPoint, MagicReason, Overload, OverloadBehaviour

Ending = Literal["limit", "open", "plateau", "failed", "other"]
# What each way a ramp can end says about the rate it found. "limit": the target failed a test there (the rate is
# its limit); "open": the ramp stopped at its own ceiling, the clock or a person before the target showed one,
# so the target may sustain more (a lower bound); "plateau": throughput stopped growing with more connections;
# "failed": the driver could not go on. Every RampEndReason is here, so a new reason cannot go unclassified.
ENDINGS: dict[RampEndReason, Ending] = {
    "p99": "limit", "errors": "limit", "achieved": "limit",
    "driver": "other", "no requests": "other", "": "other",
    "max-rps": "open", "max-connections": "open", "max-time": "open", "stopped": "open",
    "plateau": "plateau",
    "driver-exited": "failed", "driver-error": "failed", "bad-target": "failed",
    "agent-lost": "failed", "driver-not-started": "failed",
}
OPEN_ENDED: frozenset[RampEndReason] = frozenset(r for r, e in ENDINGS.items() if e == "open")
LIMIT_REASONS: frozenset[RampEndReason] = frozenset(r for r, e in ENDINGS.items() if e == "limit")
KNEE_MIN_RISE_MS = 2.0  # a p99 rise below this is noise, whatever its ratio
KNEE_MIN_RATIO = 1.5  # p99 must reach this multiple of the low-load p99


@dataclass(frozen=True)
class Magic:
    """The highest rate sustained within the SLO, req/s, and what is known about it."""

    rps: float | None
    p99_ms: float | None
    error_rate: float | None
    confirmed: bool  # held for the confirmation window (from the driver's outcome)
    driver_limited: bool
    lower_bound: bool  # the target may sustain more (driver limited, or the ramp stopped at a cap or time)
    reason: MagicReason  # what ended the ramp
    step: StepResult | None  # the step the number comes from, when one matches


def steps_of(frames: Sequence[Frame]) -> list[StepResult]:
    """The ramp steps of a timeline in the order they finished: the one step list everything else asks for."""
    return [f.step for f in frames if f.step is not None]


def within_slo(step: StepResult, slo: Slo) -> bool:
    return step.sustained and step.p99_ms <= slo.p99_ms and step.error_rate <= slo.error_rate


def magic_number(frames: Sequence[Frame], slo: Slo) -> Magic:
    """From the driver's RampOutcome when there is one, else the best step sustained within the SLO."""
    steps = steps_of(frames)
    good = [s for s in steps if within_slo(s, slo)]
    best = max(good, key=lambda s: s.achieved_rps, default=None)
    outcome = next((f.outcome for f in reversed(frames) if f.outcome is not None), None)
    if outcome is not None and outcome.reason == "driver-exited" and outcome.max_sustainable_rps is None:
        # The driver died mid-ramp: the steps it finished were measured, so the best of them is a lower bound.
        if best is None:
            return Magic(None, None, None, False, False, False, outcome.reason, None)
        return Magic(best.achieved_rps, best.p99_ms, best.error_rate, False, False, True, outcome.reason, best)
    if outcome is not None:
        rps = outcome.max_sustainable_rps
        step = min(good, key=lambda s: abs(s.achieved_rps - rps), default=None) if rps is not None else None
        return Magic(rps, outcome.p99_ms, outcome.error_rate, outcome.confirmed, outcome.driver_limited,
                     outcome.driver_limited or outcome.reason in OPEN_ENDED, outcome.reason, step)
    if best is None:
        return Magic(None, None, None, False, False, False, "no step sustained" if steps else "no steps", None)
    driver = any(s.reason == "driver" for s in steps)
    ended: StepFailure = next((s.reason for s in steps if not s.sustained and s.reason), "")
    reason: MagicReason = ended or "ramp not finished"
    return Magic(best.achieved_rps, best.p99_ms, best.error_rate, False, driver, driver or not ended, reason, best)


def curve(steps: Sequence[StepResult]) -> list[StepResult]:
    """One point per offered rate (the latest measurement wins), by offered rate."""
    by_rate = {round(s.offered_rps, 3): s for s in steps if s.offered_rps > 0}
    return [by_rate[k] for k in sorted(by_rate)]


def find_knee(steps: Sequence[StepResult]) -> StepResult | None:
    """The last step before latency starts to climb faster than throughput, or None if it never does.

    Between two neighbouring steps the knee is where the relative rise of p99 exceeds the relative rise of
    achieved req/s, and p99 has clearly left its low-load level (noise at low rates is not a knee).
    """
    points = curve(steps)
    if len(points) < 2:
        return None
    base = min(s.p99_ms for s in points[:2])
    for a, b in pairwise(points):
        if a.p99_ms <= 0 or a.achieved_rps <= 0:
            continue
        lat_gain = (b.p99_ms - a.p99_ms) / a.p99_ms
        thr_gain = (b.achieved_rps - a.achieved_rps) / a.achieved_rps
        if lat_gain > max(thr_gain, 0.0) and b.p99_ms - a.p99_ms >= KNEE_MIN_RISE_MS \
                and b.p99_ms >= KNEE_MIN_RATIO * base:
            return a
    return None


def overload(steps: Sequence[StepResult], magic: Magic, knee: StepResult | None) -> OverloadBehaviour | None:
    """How the target behaved past the knee: "shed" (fast errors, goodput held), "collapse" (latency and
    timeouts explode, goodput falls) or "queue" (goodput held, latency climbs, no shedding).

    None when the ramp never went past the knee (or the magic number).
    """
    limit = magic.rps if magic.rps is not None else (knee.achieved_rps if knee is not None else None)
    if limit is None:
        return None
    past = [s for s in curve(steps) if s.offered_rps > 1.1 * limit]
    if not past:
        return None
    peak = max(s.achieved_rps for s in steps)
    worst = past[-1]
    goodput = worst.achieved_rps / peak if peak > 0 else 0.0
    errors = sum(worst.errors.values())
    http = worst.errors.get("http_4xx", 0) + worst.errors.get("http_5xx", 0)
    timeouts = worst.errors.get("timeout", 0) + worst.errors.get("reset", 0) + worst.errors.get("refused", 0)
    ref_p99 = magic.p99_ms or (knee.p99_ms if knee is not None else 0.0) or 1.0
    ref_p50 = knee.p50_ms if knee is not None and knee.p50_ms > 0 else None
    fast = ref_p50 is None or worst.p50_ms <= max(3 * ref_p50, ref_p50 + 50)
    behaviour: Overload
    if goodput < 0.7 or (errors and timeouts / errors >= 0.5 and worst.error_rate >= 0.05) \
            or (worst.p99_ms >= 5 * ref_p99 and goodput < 0.85):
        behaviour = "collapse"
        said = (f"past the limit the target collapses: at {worst.offered_rps:.0f} req/s offered, goodput fell to "
                f"{worst.achieved_rps:.0f} req/s ({goodput * 100:.0f} % of the peak {peak:.0f}), p99 "
                f"{worst.p99_ms:.0f} ms, errors {worst.error_rate * 100:.1f} %")
    elif worst.error_rate >= 0.02 and errors and http / errors >= 0.5 and fast:
        behaviour = "shed"
        said = (f"past the limit the target sheds load: at {worst.offered_rps:.0f} req/s offered it answered "
                f"{worst.error_rate * 100:.0f} % with fast HTTP errors (p50 {worst.p50_ms:.0f} ms) and held "
                f"goodput at {worst.achieved_rps:.0f} req/s ({goodput * 100:.0f} % of the peak)")
    else:
        behaviour = "queue"
        said = (f"past the limit the target queues: at {worst.offered_rps:.0f} req/s offered goodput held at "
                f"{worst.achieved_rps:.0f} req/s ({goodput * 100:.0f} % of the peak) while p99 rose to "
                f"{worst.p99_ms:.0f} ms")
    return OverloadBehaviour(
        behaviour=behaviour, peak_goodput_rps=round(peak, 1),
        goodput_past_knee=[GoodputPoint(offered_rps=round(s.offered_rps, 1), achieved_rps=round(s.achieved_rps, 1),
                                        p99_ms=round(s.p99_ms, 1), error_rate=round(s.error_rate, 4)) for s in past],
        evidence=said)
