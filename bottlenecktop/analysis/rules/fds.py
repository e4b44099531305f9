"""fds: the target's open file descriptors near its RLIMIT_NOFILE, and the errors that follow."""

from __future__ import annotations

from bottlenecktop.analysis.context import Context
from bottlenecktop.analysis.knee import steps_of
from bottlenecktop.analysis.rules.base import Rule, during
from bottlenecktop.analysis.window import Hit, Span
from bottlenecktop.session import Frame

FILL_WARN = 0.75  # share of the soft limit
FILL_SAT = 0.9
FILL_FULL = 0.98  # no room left: saturated even before an error shows
AT_LIMIT_HOLD_S = 2.0  # seconds: a process at its fd limit stays there, so two ticks are no spike
# Error classes a process out of descriptors causes: it cannot accept, or answers 5xx.
FD_ERRORS = ("refused", "reset", "http_5xx", "other")


def fds_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    target = frame.target
    if target is None or not target.alive or target.fd_limit <= 0:
        return None
    fill = target.fds / target.fd_limit
    if fill < FILL_WARN:
        return None
    values = {"fds": float(target.fds), "limit": float(target.fd_limit), "fill": fill}
    errors = 0.0
    if frame.load is not None:
        errors = values["errors"] = float(sum(frame.load.errors.get(c, 0) for c in FD_ERRORS))
    # At the limit with requests failing (or with no room left at all) is saturation, whatever else is busy.
    full = fill >= FILL_SAT and (errors > 0 or fill >= FILL_FULL)
    return Hit(2 if full else 1, min(1.0, fill), f"pid {target.pid}", values)


def fds_describe(span: Span, ctx: Context) -> list[str]:
    out = [f"{span.scope()} held {span.mean('fds'):.0f} open file descriptors of its limit "
           f"{span.peak('limit'):.0f} {during(span)}"]
    first_error = next((f for f in ctx.frames if f.t > span.t_start and f.load is not None
                        and sum(f.load.errors.get(c, 0) for c in FD_ERRORS) > 0), None)
    if first_error is not None and first_error.load is not None:
        errs = {c: n for c, n in first_error.load.errors.items() if c in FD_ERRORS and n}
        kinds = ", ".join(f"{n} {c}" for c, n in errs.items())
        out.append(f"errors started at t={first_error.t:.0f} s ({kinds} in that second)")
        out.extend(_early(first_error.t, ctx))
    return out


def _early(t_error: float, ctx: Context) -> list[str]:
    """How many requests it took to run out: a leak ends a run after a count of requests, whatever the rate."""
    served = sum(f.load.ok for f in ctx.frames if f.load is not None and f.t < t_error)
    limit = next((f.target.fd_limit for f in ctx.frames if f.target is not None and f.target.fd_limit), 0)
    steps = steps_of(ctx.frames)
    if any(s.sustained and s.t_end <= t_error for s in steps):
        return [f"the descriptors ran out after about {served} requests: if they are never closed (a leak) the "
                "target fails after a count of requests at any rate, so the magic number says when the ramp got "
                "there, not what the target sustains"]
    return [f"the descriptors ran out after about {served} requests, before the ramp sustained any step: what ends "
            f"the run is the leak (or a limit of {limit} too low for this load), not the request rate; raise the "
            "limit (ulimit -n) to measure the rate, and look for descriptors that are never closed"]


FDS = Rule("fds", fds_hit, fds_describe, specific=True, window_s=AT_LIMIT_HOLD_S)
