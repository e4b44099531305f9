"""The differences of two recorded sessions: pure functions of their frames and verdicts.

Each number comes from the run's verdict (recorded, or built from the frames of a run killed before it was
written), so a compare says what each run's own verdict says: the magic number, CPU per request at the knee,
the bottleneck.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bottlenecktop.analysis.knee import curve, steps_of
from bottlenecktop.analysis.verdict import verdict_of
from bottlenecktop.recording import SUFFIX, Recording
from bottlenecktop.session import Frame
from bottlenecktop.verdict_types import Verdict

COMPARE_SCHEMA = "bottlenecktop.compare/1"
TOP_STACK_CHANGES = 10
RATE_POINTS = 6  # offered rates at which p99 is compared


def label_of(rec: Recording, fallback: str) -> str:
    """A short name for a recording: its file name without the suffix."""
    if rec.path is None:
        return fallback
    name = rec.path.name
    for suffix in (SUFFIX, ".jsonl", ".gz"):
        if name.endswith(suffix):
            return name[: -len(suffix)] or fallback
    return Path(name).stem or fallback


def recording_verdict(rec: Recording) -> Verdict:
    """The recording's verdict: the recorded one, else built from its frames."""
    return verdict_of(rec.header, rec.frames, rec.verdict, str(rec.path) if rec.path else None)


def _p99_curve(frames: Sequence[Frame]) -> list[tuple[float, float]]:
    """(offered req/s, p99 ms) per distinct offered rate, by rate; a rate probed twice keeps its last step."""
    return [(s.offered_rps, s.p99_ms) for s in curve(steps_of(frames))]


def interpolate(curve: Sequence[tuple[float, float]], x: float) -> float | None:
    """Linear interpolation over (x, y) points sorted by x; None outside their range."""
    if not curve or x < curve[0][0] or x > curve[-1][0]:
        return None
    xs = [p[0] for p in curve]
    i = bisect.bisect_left(xs, x)
    if xs[i] == x:
        return curve[i][1]
    (x0, y0), (x1, y1) = curve[i - 1], curve[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def _compare_rates(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[float]:
    """Offered rates both sessions covered: the steps of either inside the overlap, thinned to RATE_POINTS."""
    if not a or not b:
        return []
    lo, hi = max(a[0][0], b[0][0]), min(a[-1][0], b[-1][0])
    if lo > hi:
        return []
    rates = sorted({x for x, _ in a + b if lo <= x <= hi})
    if len(rates) <= RATE_POINTS:
        return rates
    picks = {rates[round(i * (len(rates) - 1) / (RATE_POINTS - 1))] for i in range(RATE_POINTS)}
    return sorted(picks)


def cpu_ms_per_request(verdict: Verdict) -> float | None:
    """CPU ms per request at the knee, as the verdict gives it (the observer's CPU taken out of the node's)."""
    cost = verdict.cost_per_request
    return cost.cpu_ms if cost is not None and isinstance(cost.cpu_ms, float) else None


def stack_shares(frames: Sequence[Frame]) -> dict[str, float]:
    """Each function's own share of samples, %, over all stack windows (weighted by their sample counts)."""
    weighted: dict[str, float] = {}
    total = 0
    for f in frames:
        w = f.stacks
        if w is None or w.samples <= 0:
            continue
        total += w.samples
        for fn in w.functions:
            weighted[fn.name] = weighted.get(fn.name, 0.0) + fn.own_pct * w.samples
    return {name: v / total for name, v in weighted.items()} if total else {}


def _bottleneck(verdict: Verdict) -> dict[str, Any]:
    b = verdict.bottleneck
    return {"resource": b.resource, "scope": b.scope, "confidence": b.confidence}


def _ratio(a: float | None, b: float | None) -> float | None:
    return b / a if a and b is not None else None


def compare_sessions(a: Recording, b: Recording) -> dict[str, Any]:
    """The differences of two sessions, as a JSON-ready dict (schema ``bottlenecktop.compare/1``).

    Keys: labels; magic_number {a, b, ratio} in req/s; p99_at_equal_rate [{offered_rps, a, b, ratio}] in ms,
    interpolated over each session's steps; p99_at_lower_magic; cpu_ms_per_request {a, b, ratio} at each knee;
    verdict {a, b} (bottleneck resource, scope, confidence); stack_changes [{function, a, b, delta}] in % of
    samples, largest change first; notices."""
    la, lb = label_of(a, "a"), label_of(b, "b")
    if la == lb:
        la, lb = f"a: {la}", f"b: {lb}"
    va, vb = recording_verdict(a), recording_verdict(b)
    ma, mb = va.capacity.max_sustainable_rps, vb.capacity.max_sustainable_rps
    ca, cb = _p99_curve(a.frames), _p99_curve(b.frames)
    at_rates = []
    for rate in _compare_rates(ca, cb):
        pa, pb = interpolate(ca, rate), interpolate(cb, rate)
        at_rates.append({"offered_rps": rate, "a": pa, "b": pb, "ratio": _ratio(pa, pb)})
    lower = min(ma, mb) if ma is not None and mb is not None else None
    at_lower = None
    if lower is not None:
        pa, pb = interpolate(ca, lower), interpolate(cb, lower)
        at_lower = {"offered_rps": lower, "a": pa, "b": pb, "ratio": _ratio(pa, pb)}
    cpu_a, cpu_b = cpu_ms_per_request(va), cpu_ms_per_request(vb)
    sa, sb = stack_shares(a.frames), stack_shares(b.frames)
    names = sorted(set(sa) | set(sb), key=lambda n: (-abs(sb.get(n, 0.0) - sa.get(n, 0.0)), n))
    changes: list[dict[str, Any]] = [{"function": n, "a": sa.get(n, 0.0), "b": sb.get(n, 0.0),
                                      "delta": sb.get(n, 0.0) - sa.get(n, 0.0)} for n in names]
    return {
        "schema": COMPARE_SCHEMA,
        "labels": {"a": la, "b": lb},
        "files": {"a": str(a.path) if a.path else None, "b": str(b.path) if b.path else None},
        "magic_number": {"a": ma, "b": mb, "ratio": _ratio(ma, mb)},
        "p99_at_equal_rate": at_rates,
        "p99_at_lower_magic": at_lower,
        "cpu_ms_per_request": {"a": cpu_a, "b": cpu_b, "ratio": _ratio(cpu_a, cpu_b)},
        "verdict": {"a": _bottleneck(va), "b": _bottleneck(vb)},
        "stack_changes": changes[:TOP_STACK_CHANGES],
        "notices": {"a": a.notice, "b": b.notice},
    }


def _num(value: Any, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def _change(ratio: Any) -> str:
    return "-" if ratio is None else f"x{ratio:.2f}"


def compare_rows(cmp: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of (what, run a, run b, b against a) of a ``compare_sessions`` result: for the table and the screen."""
    rows: list[tuple[str, str, str, str]] = []
    m = cmp["magic_number"]
    rows.append(("magic number (req/s)", _num(m["a"]), _num(m["b"]), _change(m["ratio"])))
    low = cmp.get("p99_at_lower_magic")
    if low:
        rows.append((f"p99 at {low['offered_rps']:,.0f} req/s", _num(low["a"], " ms"), _num(low["b"], " ms"),
                     _change(low["ratio"])))
    for r in cmp["p99_at_equal_rate"]:
        rows.append((f"  p99 at {r['offered_rps']:,.0f} req/s", _num(r["a"], " ms"), _num(r["b"], " ms"),
                     _change(r["ratio"])))
    c = cmp["cpu_ms_per_request"]
    rows.append(("CPU per request", _num(c["a"], " ms", 2), _num(c["b"], " ms", 2), _change(c["ratio"])))
    va, vb = cmp["verdict"]["a"], cmp["verdict"]["b"]
    same = va["resource"] == vb["resource"]
    rows.append(("bottleneck", va["resource"], vb["resource"], "same" if same else "changed"))
    if va["scope"] or vb["scope"]:
        rows.append(("  scope", va["scope"] or "-", vb["scope"] or "-", ""))
    return rows


def compare_table(cmp: dict[str, Any]) -> str:
    """The headless text table of a ``compare_sessions`` result."""
    la, lb = cmp["labels"]["a"], cmp["labels"]["b"]
    rows = compare_rows(cmp)
    head = ("", la, lb, "b vs a")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths,
                                                                                                   strict=True)))
             for r in [head, *rows]]
    if cmp["stack_changes"]:
        lines += ["", "stack share changes (own % of samples, b - a):"]
        for s in cmp["stack_changes"]:
            lines.append(f"  {s['delta']:+6.1f}  {s['a']:5.1f} -> {s['b']:5.1f}  {s['function']}")
    for key in ("a", "b"):
        if cmp["notices"].get(key):
            lines.append(f"note ({cmp['labels'][key]}): {cmp['notices'][key]}")
    return "\n".join(line.rstrip() for line in lines)
