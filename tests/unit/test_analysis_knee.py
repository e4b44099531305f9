"""How the way a ramp ended decides whether its magic number is a lower bound."""

from __future__ import annotations

from typing import get_args

import pytest

from bottlenecktop.analysis.knee import ENDINGS, LIMIT_REASONS, OPEN_ENDED, magic_number
from bottlenecktop.analysis.verdict import build_verdict
from bottlenecktop.probes.samples import RampEndReason
from tests.support.timeline_builder import TimelineBuilder, header, node, proc


def closed_model_capped_by_connections() -> TimelineBuilder:
    """A closed-model ramp whose every step is sustained: it stops because it ran out of connections."""
    b = TimelineBuilder(header())
    for rps in (100, 200, 400):  # throughput still doubling with the connections: no plateau, no failure
        b.step(rps, node=node(busy=20), target=proc(cpu=20))
    b.outcome(400, p99=5.0, reason="max-connections")
    return b


def test_a_closed_model_run_capped_by_connections_is_a_lower_bound() -> None:
    b = closed_model_capped_by_connections()
    magic = magic_number(b.frames, b.header.slo)
    assert magic.rps == 400 and magic.reason == "max-connections"
    assert magic.lower_bound  # the target was never pushed to its limit
    v = build_verdict(b.header, b.frames)
    assert v.capacity.lower_bound and v.capacity.ramp_end_reason == "max-connections"
    assert "ended (max-connections) before the target showed a limit" in v.bottleneck.evidence[0]


@pytest.mark.parametrize("reason", ["max-rps", "max-time", "stopped", "max-connections"])
def test_open_endings_are_lower_bounds(reason: RampEndReason) -> None:
    b = TimelineBuilder(header())
    b.step(100, node=node(busy=10), target=proc(cpu=10))
    b.outcome(100, p99=5.0, reason=reason)
    assert magic_number(b.frames, b.header.slo).lower_bound


@pytest.mark.parametrize("reason", ["p99", "errors", "achieved", "plateau"])
def test_endings_at_the_targets_limit_are_not(reason: RampEndReason) -> None:
    b = TimelineBuilder(header())
    b.step(100, node=node(busy=10), target=proc(cpu=10))
    b.outcome(100, p99=5.0, reason=reason)
    assert not magic_number(b.frames, b.header.slo).lower_bound


def test_every_ramp_end_reason_is_classified_once() -> None:
    assert set(ENDINGS) == set(get_args(RampEndReason))
    assert {"max-rps", "max-connections", "max-time", "stopped"} == OPEN_ENDED
    assert {"p99", "errors", "achieved"} == LIMIT_REASONS
    assert not OPEN_ENDED & LIMIT_REASONS
