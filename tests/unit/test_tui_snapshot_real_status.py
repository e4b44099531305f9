"""A snapshot of the live screen with the real analysis drawing its bar (test_tui_snapshots.py pins the analysis
so that its wording does not move those pictures; this one is where the bar's real text is seen). Update with
``--snapshot-update`` after an intended change of the analysis' wording, and look at the report."""

from __future__ import annotations

from typing import Any

from bottlenecktop.tui.app import BottleneckApp
from bottlenecktop.tui.synthetic import synthetic_session


class NullController:
    def command(self, name: str, value: float | str | None = None) -> None:
        pass


def test_live_ramp_with_the_real_live_status(snap_compare: Any) -> None:
    assert snap_compare(BottleneckApp(synthetic_session(40), NullController()), terminal_size=(160, 48))
