"""Observe mode: the node's busiest processes; the highlighted one is what the attach key picks."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from bottlenecktop.probes.samples import ProcBrief
from bottlenecktop.tui.plain import plain
from bottlenecktop.tui.widgets.process_panel import human_bytes


class TopProcs(DataTable[str | Text]):
    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_column("pid", key="pid", width=7)
        self.add_column("cpu%", key="cpu", width=5)
        self.add_column("rss", key="rss", width=9)
        self.add_column("name", key="name")
        self._shown: list[ProcBrief] = []

    def show_procs(self, procs: Sequence[ProcBrief]) -> None:
        """Replace the rows (only when the list changed), keeping the highlighted pid where it is."""
        if list(procs) == self._shown:
            return
        keep = self.selected_pid()
        self._shown = list(procs)
        self.clear()
        for proc in procs:
            self.add_row(str(proc.pid), f"{proc.cpu_pct:.0f}", human_bytes(proc.rss), plain(proc.name),
                         key=str(proc.pid))
        if keep is not None and any(p.pid == keep for p in procs):
            self.move_cursor(row=self.get_row_index(str(keep)))

    def selected_pid(self) -> int | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return None if key is None else int(key)
