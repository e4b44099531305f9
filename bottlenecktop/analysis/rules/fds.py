"""fds: the target's open file descriptors near its RLIMIT_NOFILE, and the errors that follow."""

from __future__ import annotations

from bottlenecktop.analysis.context import Context
from bottlenecktop.analysis.rules.base import Rule, during
from bottlenecktop.analysis.window import Hit, Span
from bottlenecktop.session import Frame

FILL_WARN = 0.75  # share of the soft limit
FILL_SAT = 0.9
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
    if frame.load is not None:
        values["errors"] = float(sum(frame.load.errors.get(c, 0) for c in FD_ERRORS))
    return Hit(2 if fill >= FILL_SAT else 1, min(1.0, fill), f"pid {target.pid}", values)


def fds_describe(span: Span, ctx: Context) -> list[str]:
    out = [f"{span.scope()} held {span.mean('fds'):.0f} open file descriptors of its limit "
           f"{span.peak('limit'):.0f} {during(span)}"]
    first_error = next((f for f in ctx.frames if f.t > span.t_start and f.load is not None
                        and sum(f.load.errors.get(c, 0) for c in FD_ERRORS) > 0), None)
    if first_error is not None and first_error.load is not None:
        errs = {c: n for c, n in first_error.load.errors.items() if c in FD_ERRORS and n}
        kinds = ", ".join(f"{n} {c}" for c, n in errs.items())
        out.append(f"errors started at t={first_error.t:.0f} s ({kinds} in that second)")
    return out


FDS = Rule("fds", fds_hit, fds_describe, specific=True)
