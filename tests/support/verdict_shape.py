"""A small checker of the verdict's shape, schema bottlenecktop.verdict/1 as /work/shared/DESIGN.md gives it.

Returns the list of problems (empty when the shape is right), so a test can assert on it and show them all.
"""

from __future__ import annotations

from typing import Any

RESOURCES = {"cpu", "cpu-thread", "memory", "disk", "network", "accept-queue", "fds", "lock", "downstream",
             "load-driver", "none"}
NUM = (int, float)


def _need(problems: list[str], obj: Any, key: str, kinds: type | tuple[type, ...], where: str,
          nullable: bool = False) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        problems.append(f"{where}.{key} missing")
        return None
    value = obj[key]
    if value is None and nullable:
        return None
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        problems.append(f"{where}.{key} is a bool")
    elif not isinstance(value, kinds):
        problems.append(f"{where}.{key} has type {type(value).__name__}")
    return value


def verdict_problems(v: Any) -> list[str]:
    p: list[str] = []
    if _need(p, v, "schema", str, "verdict") != "bottlenecktop.verdict/1":
        p.append("verdict.schema is not bottlenecktop.verdict/1")
    target = _need(p, v, "target", dict, "verdict")
    if target is not None:
        _need(p, target, "url", str, "target", nullable=True)
        _need(p, target, "pid", int, "target", nullable=True)
    cap = _need(p, v, "capacity", dict, "verdict")
    if cap is not None:
        for key in ("max_sustainable_rps", "p99_ms_at_max", "error_rate_at_max"):
            _need(p, cap, key, NUM, "capacity", nullable=True)
        slo = _need(p, cap, "slo", dict, "capacity")
        if slo is not None:
            _need(p, slo, "p99_ms", NUM, "capacity.slo")
            _need(p, slo, "error_rate", NUM, "capacity.slo")
    neck = _need(p, v, "bottleneck", dict, "verdict")
    if neck is not None:
        if _need(p, neck, "resource", str, "bottleneck") not in RESOURCES:
            p.append(f"bottleneck.resource {neck.get('resource')!r} is not in the vocabulary")
        _need(p, neck, "scope", str, "bottleneck")
        conf = _need(p, neck, "confidence", NUM, "bottleneck")
        if isinstance(conf, NUM) and not 0 <= conf <= 1:
            p.append("bottleneck.confidence is outside 0..1")
        ev = _need(p, neck, "evidence", list, "bottleneck")
        if ev is not None and not all(isinstance(e, str) for e in ev):
            p.append("bottleneck.evidence holds a non-string")
    for k, f in enumerate(_need(p, v, "findings", list, "verdict") or []):
        _need(p, f, "resource", str, f"findings[{k}]")
        if _need(p, f, "severity", str, f"findings[{k}]") not in ("saturated", "warning"):
            p.append(f"findings[{k}].severity is not saturated|warning")
        _need(p, f, "evidence", list, f"findings[{k}]")
    for k, s in enumerate(_need(p, v, "steps", list, "verdict") or []):
        for key in ("offered_rps", "achieved_rps", "p50_ms", "p99_ms", "error_rate"):
            _need(p, s, key, NUM, f"steps[{k}]")
    _need(p, v, "recording", str, "verdict", nullable=True)
    return p
