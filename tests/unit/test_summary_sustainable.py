"""The summary says how long the magic number lasts when a leak makes it unsustainable."""

from __future__ import annotations

from bottlenecktop.analysis.verdict import build_verdict
from bottlenecktop.summary import summary_text
from tests.support.timeline_builder import TimelineBuilder, header


def test_a_rate_that_runs_out_of_memory_says_for_how_long() -> None:
    b = TimelineBuilder(header())
    for rps in (10, 15):
        b.step(rps, seconds=3)
    verdict = build_verdict(b.header, b.frames)
    assert "Sustainable for" not in summary_text(verdict)
    verdict.capacity.sustainable_for_s = 440.0
    assert "Sustainable for about 440 s only" in summary_text(verdict)
