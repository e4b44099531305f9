"""What the ramp controller and its load agents say to each other (control and stats, never requests).

Time is cut into whole seconds on a grid the controller sets: grid second ``j`` starts at the controller's wall
time ``epoch + j``. A segment (a step, or its rerun) always starts on a grid second, and every agent reports one
AgentSecond per grid second, so that the controller merges them per second without guessing.
"""

from __future__ import annotations

import msgspec

from bottlenecktop.probes.samples import LoadPhase, LoadSecond


class Segment(msgspec.Struct, kw_only=True):
    """From grid second ``j`` on, pace ``rate`` req/s (the global rate; this agent sends its stripe of it)."""

    seg: int  # the controller's segment number (a rerun of a step is a new segment)
    step: int
    phase: LoadPhase
    rate: float
    j: int  # grid second the segment starts at
    at_wall: float  # that second's start on this agent's wall clock (time.time()), offset already applied
    stripe_index: int
    stripe_count: int


class AgentSecond(msgspec.Struct, kw_only=True):
    """One grid second of one agent: its LoadSecond plus the raw counts a merge needs."""

    j: int  # the grid second this covers
    seg: int  # the segment that was running during it (-1 before the first)
    offered: int = 0
    lat: dict[int, int] = {}  # latency counts per HDR bucket index (stats.Counts.buckets), microseconds
    lat_min_us: int = 0
    lat_max_us: int = 0
    load: LoadSecond
