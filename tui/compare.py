"""What two runs differ in: magic number, p99 at an equal load, bottleneck, top function. Pure."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from bottlenecktop.session import Session
from probes.samples import StepResult


@dataclass(frozen=True)
class RunSummary:
    magic_rps: float | None
    bottleneck: str
    top_function: str
    steps: list[StepResult]


def summarize(session: Session) -> RunSummary:
    steps = session.steps()
    verdict = session.verdict or {}
    capacity = verdict.get("capacity")
    magic = capacity.get("max_sustainable_rps") if isinstance(capacity, dict) else None
    if magic is None:
        outcome = next((f.outcome for f in reversed(session.snapshot()) if f.outcome is not None), None)
        magic = outcome.max_sustainable_rps if outcome is not None else None
    if magic is None:
        sustained = [s.achieved_rps for s in steps if s.sustained]
        magic = max(sustained) if sustained else None
    neck = verdict.get("bottleneck")
    bottleneck = str(neck.get("resource", "?")) if isinstance(neck, dict) else "(no verdict)"
    windows = session.stack_windows()
    top = windows[-1].functions[0].name if windows and windows[-1].functions else "-"
    return RunSummary(magic, bottleneck, top, steps)


def p99_at(steps: list[StepResult], rps: float) -> float | None:
    """p99 (ms) at ``rps`` offered, linearly interpolated between the steps around it; None outside them."""
    points = sorted((s.offered_rps, s.p99_ms) for s in steps)
    for (r0, p0), (r1, p1) in itertools.pairwise(points):
        if r0 <= rps <= r1:
            return p0 if r1 == r0 else p0 + (p1 - p0) * (rps - r0) / (r1 - r0)
    return points[0][1] if len(points) == 1 and points[0][0] == rps else None


def differences(a: Session, b: Session) -> list[tuple[str, str, str, str]]:
    """Rows of (what, run A, run B, B against A)."""
    sa, sb = summarize(a), summarize(b)

    def rate(v: float | None) -> str:
        return "-" if v is None else f"{v:,.0f} req/s"

    change = "-"
    if sa.magic_rps and sb.magic_rps:
        change = f"{(sb.magic_rps / sa.magic_rps - 1) * 100:+.0f} %"
    rows = [("magic number", rate(sa.magic_rps), rate(sb.magic_rps), change)]
    common = min((v for v in (sa.magic_rps, sb.magic_rps) if v), default=None)
    if common:
        pa, pb = p99_at(sa.steps, common), p99_at(sb.steps, common)
        delta = "-" if pa is None or pb is None else f"{pb - pa:+.1f} ms"
        rows.append((f"p99 at {common:,.0f} req/s", "-" if pa is None else f"{pa:.1f} ms",
                     "-" if pb is None else f"{pb:.1f} ms", delta))
    rows.append(("bottleneck", sa.bottleneck, sb.bottleneck, "same" if sa.bottleneck == sb.bottleneck else "changed"))
    rows.append(("top function", sa.top_function, sb.top_function,
                 "same" if sa.top_function == sb.top_function else "changed"))
    return rows
