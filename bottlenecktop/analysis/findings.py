"""What the analysis says: one Finding per saturated (or nearly saturated) resource, and the live status."""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from bottlenecktop.probes.samples import LoadPhase
from bottlenecktop.verdict_types import RESOURCES, FindingResource, Severity

__all__ = ["RESOURCES", "SATURATED", "TARGET_EXIT", "WARNING", "Finding", "LiveStatus", "StatusPhase"]

# What the run is doing: the driver's phase, or no driver (observing) or none yet (starting), or over and failed.
StatusPhase = LoadPhase | Literal["observing", "starting", "failed"]

# A finding that is told but never named as the bottleneck (not a resource that limits the rate).
TARGET_EXIT: Final = "target-exit"

SATURATED: Final = "saturated"
WARNING: Final = "warning"


class Finding(msgspec.Struct, kw_only=True):
    """A resource seen saturated (or close to it) over a sustained window of the timeline."""

    resource: FindingResource
    severity: Severity
    score: float  # 0..1, for ranking: saturation first, then how clear and how long
    scope: str  # "node", "pid 4242", "pid 4242 thread MainThread", "driver pid 99"
    evidence: list[str]  # sentences a person can check: numbers, session seconds, names
    t_start: float  # the sustained window it was seen in, session seconds
    t_end: float
    host: str = ""  # a remote node's instance address ("10.0.0.7:9100"); "" for this node and its processes


class LiveStatus(msgspec.Struct, kw_only=True):
    """What the screen and the headless progress show every tick, over the recent window."""

    t: float = 0.0  # session seconds of the last frame
    phase: StatusPhase = "observing"
    leading: Finding | None = None  # the strongest recent finding
    findings: list[Finding] = []  # recent findings, ranked
    magic_rps: float | None = None  # best sustained rate so far (the confirmed one once the ramp is done), req/s
    lower_bound: bool = False  # the driver, not the target, limited the rate so far
    offered_rps: float | None = None  # the driver's last interval, req/s
    achieved_rps: float | None = None
    p99_ms: float | None = None
