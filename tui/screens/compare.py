"""Two recordings side by side: their curves overlaid, and a table of what differs."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from bottlenecktop.analysis.flame import paired, run_windows
from bottlenecktop.analysis.knee import curve, steps_of
from bottlenecktop.session import Session
from bottlenecktop.tui.compare import differences
from bottlenecktop.tui.plain import plain
from bottlenecktop.tui.screens.flame import FlameScreen
from bottlenecktop.tui.widgets.curve_plot import CurvePlot


class CompareScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("f", "flame", "Flame: B vs A")]

    def __init__(self, a: Session, b: Session) -> None:
        super().__init__()
        self.a, self.b = a, b

    def compose(self) -> ComposeResult:
        yield Static(plain(self._title()), id="compare-title")
        yield CurvePlot(id="curves")
        yield DataTable(id="differences", cursor_type="none", zebra_stripes=True)
        yield Footer()

    def _title(self) -> str:
        def name(s: Session) -> str:
            t = s.header.target
            return t.url or (f"pid {t.pid}" if t.pid else s.header.host or "?")

        return f" compare  A: {name(self.a)}   B: {name(self.b)}"

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("", "A", "B", "B vs A")
        table.add_rows([tuple(plain(cell) for cell in row) for row in differences(self.a, self.b)])
        # One point per offered rate, as the knee is judged (a rate probed twice keeps its last step).
        a, b = (curve(steps_of(s.snapshot())) for s in (self.a, self.b))
        self.query_one(CurvePlot).draw_runs(a, b)

    def action_flame(self) -> None:
        """The differential flame graph: B's stacks, coloured by how each frame's share changed from A's."""
        pairs = paired(run_windows(self.a.snapshot()), run_windows(self.b.snapshot()))
        if not pairs:
            self.notify("both recordings need stacks for a differential flame graph", severity="warning",
                        timeout=3)
            return
        self.app.push_screen(FlameScreen([b for _, b in pairs], base=[a for a, _ in pairs],
                                         title="flame, B vs A"))
