"""Snapshots of the main screen, fed by the synthetic session so they repeat exactly.

Update after an intended change with ``pytest tests/unit/test_tui_snapshots.py --snapshot-update`` and look at the
report. Nothing on screen reads a clock: frames carry session seconds and no notification is triggered. The
analysis is pinned to a fixed LiveStatus so that a change in its wording does not move these pictures (the
analysis has its own tests; the keys tests run the real one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from bottlenecktop.analysis import verdict as analysis
from bottlenecktop.analysis.findings import Finding, LiveStatus, StatusPhase
from bottlenecktop.session import Frame, Header
from bottlenecktop.tui.app import BottleneckApp
from bottlenecktop.tui.synthetic import synthetic_session


class NullController:
    def command(self, name: str, value: float | str | None = None) -> None:
        pass


def pinned_status(header: Header, frames: Sequence[Frame], *args: Any, **kwargs: Any) -> LiveStatus:
    """A fixed answer shaped like the real one: a saturated thread once the ramp passes 20 s."""
    last = frames[-1].t if frames else 0.0
    leading = None
    if header.mode != "observe" and last >= 20:
        leading = Finding(resource="cpu-thread", severity="saturated", score=0.9, scope="pid 4242 thread MainThread",
                          evidence=["thread MainThread of pid 4242 at 97 % of one core for 15 s while the node was "
                                    "58 % busy; 92 % of samples hold the GIL in render_page (app.py:88)"],
                          t_start=last - 15, t_end=last)
    phase: StatusPhase = "observing" if header.mode == "observe" else "ramping"
    return LiveStatus(t=last, phase=phase, leading=leading, magic_rps=379.7 if last >= 29 else None)


@pytest.fixture(autouse=True)
def _pin_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analysis, "live_status", pinned_status)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_live_ramp(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(BottleneckApp(synthetic_session(40), NullController()), terminal_size=size)


def test_replay_at_the_knee(snap_compare: Any) -> None:
    app = BottleneckApp(synthetic_session(40, finished=True), mode="replay")
    assert snap_compare(app, terminal_size=(80, 24), press=["k"])


def test_replay_finished_with_the_verdict(snap_compare: Any) -> None:
    app = BottleneckApp(synthetic_session(40, finished=True), mode="replay")
    assert snap_compare(app, terminal_size=(160, 48))


def test_observe_busiest_processes(snap_compare: Any) -> None:
    app = BottleneckApp(synthetic_session(20, mode="observe"), NullController())
    assert snap_compare(app, terminal_size=(80, 24))


def test_too_small(snap_compare: Any) -> None:
    assert snap_compare(BottleneckApp(synthetic_session(5), NullController()), terminal_size=(50, 12))


def _with_next_question() -> Any:
    from bottlenecktop.session import RampInfo
    from bottlenecktop.verdict_types import Admission, WhatIf

    session = synthetic_session(40, finished=True)
    session.header.ramp = RampInfo(start_rps=50, step_seconds=5, max_time_s=120.0)
    assert session.verdict is not None
    session.verdict.what_if = [WhatIf(resource="cpu-thread", change="render_page (app.py:88) moved off the "
                                      "saturated thread", estimate_rps=759.4, factor=2.0, basis="Amdahl's law")]
    session.verdict.admission = Admission(max_in_flight=12, refuse_above_rps=379.7, basis="Little's law")
    return session


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_replay_done_with_the_next_question_and_at_the_knee_with_progress(snap_compare: Any,
                                                                          size: tuple[int, int]) -> None:
    # At the end: the verdict bar's second line (what if, admission); the knee: the ramp's progress in the title.
    assert snap_compare(BottleneckApp(_with_next_question(), mode="replay"), terminal_size=size)
    assert snap_compare(BottleneckApp(_with_next_question(), mode="replay"), terminal_size=size, press=["k"])


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_flame_graph_at_the_knee_and_drilled_in(snap_compare: Any, size: tuple[int, int]) -> None:
    app = BottleneckApp(synthetic_session(40, finished=True), mode="replay")
    assert snap_compare(app, terminal_size=size, press=["f"])
    app = BottleneckApp(synthetic_session(40, finished=True), mode="replay")
    assert snap_compare(app, terminal_size=size, press=["f", "down", "down", "down", "down", "enter"])
