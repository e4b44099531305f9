"""How far a ramp has come and a bound on how long it can still take, from the recorded plan and its steps.

The bound follows the ramp's rules (probes/load/ramp.py): after the first failed step at most ``search_steps``
probes, then a confirmation with its retries; while ramping up it is bounded only by ``--max-rps`` (the steps
to reach it) or ``--max-time``. Each step is allowed a second of drain and agreement on top of its length, and
one rerun (a starved driver's step is run twice).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bottlenecktop.session import Frame, Header, RampInfo

GAP_S = 1.0  # between steps: the drain, the last second's report, the next step's start


def _tail(ramp: RampInfo, searches_left: int, confirms_left: int) -> float:
    step = ramp.step_seconds + GAP_S
    return (searches_left + 1) * step + confirms_left * (ramp.confirm_seconds + GAP_S)


def time_left(ramp: RampInfo, phase: str, rate: float, frames: Sequence[Frame], elapsed: float) -> float | None:
    """Seconds the ramp can still take at most, or None when nothing bounds it yet (ramping with no cap)."""
    steps = [f.step for f in frames if f.step is not None]
    confirms = 1 + ramp.confirm_retries
    bound: float | None
    if ramp.closed_model:
        bound = None
    elif phase == "confirming":
        done = sum(1 for s in steps if s.phase == "confirming")
        bound = _tail(ramp, 0, max(confirms - done, 1)) - ramp.step_seconds - GAP_S
    elif phase == "searching":
        done = sum(1 for s in steps if s.phase == "searching")
        bound = _tail(ramp, max(ramp.search_steps - done, 0), confirms)
    elif ramp.max_rps is not None and rate > 0:
        ups = max(0, math.ceil(math.log(max(ramp.max_rps / rate, 1.0)) / math.log(ramp.step_factor)))
        bound = (ups + 1) * (ramp.step_seconds + GAP_S) + _tail(ramp, ramp.search_steps, confirms)
    else:
        bound = None
    if ramp.max_time_s is not None:
        cap = max(ramp.max_time_s - elapsed, 0.0)
        bound = cap if bound is None else min(bound, cap)
    return bound


def ramp_progress(header: Header, frames: Sequence[Frame], compact: bool = False) -> str:
    """'step 4 · searching 225 req/s · 18 s in · at most 52 s left', or '' when no ramp is running;
    ``compact``: 'step 4 · 18 s · ≤52 s left' (for a panel's title)."""
    ramp = header.ramp
    if ramp is None or not frames or any(f.outcome is not None for f in frames[-3:]):
        return ""
    first = next((f for f in frames if f.load is not None), None)
    last = next((f.load for f in reversed(frames[-10:]) if f.load is not None), None)
    if first is None or last is None:
        return ""
    elapsed = frames[-1].t - first.t
    bound = time_left(ramp, last.phase, last.target_rps, frames, elapsed)
    if compact:
        return f"step {last.step} · {elapsed:.0f} s · " + (f"≤{bound:.0f} s left" if bound is not None else "up")
    left = f"at most {bound:.0f} s left" if bound is not None else "until the first step that fails"
    rate = f" {last.target_rps:,.0f} req/s" if last.target_rps > 0 else ""
    return f"step {last.step} · {last.phase}{rate} · {elapsed:.0f} s in · {left}"
