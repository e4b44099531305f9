"""The target's Python stacks from the latest StackWindow: top functions (own, total %) and thread states."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from bottlenecktop.probes.samples import StackWindow, ThreadState

WAIT_STYLES = {"lock": "red", "socket": "magenta", "disk": "yellow", "sleep": "grey50", "select": "grey50",
               "other": "grey50"}


def thread_line(th: ThreadState) -> Text:
    """``MainThread run 97% gil 95% · socket 3%``: where each thread spends its samples."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{th.name or th.tid} ", style="bold")
    text.append(f"run {th.running_pct:.0f}% ", style="green")
    if th.gil_pct is not None:
        text.append(f"gil {th.gil_pct:.0f}%", style="cyan")
    waits = sorted(th.waits.items(), key=lambda kv: -kv[1])
    idle = [(k, v) for k, v in waits if k in ("sleep", "select")]
    busy_waits = [(k, v) for k, v in waits if k not in ("sleep", "select")]
    for kind, pct in busy_waits:
        text.append(f" · {kind} {pct:.0f}%", style=WAIT_STYLES.get(kind, ""))
    idle_pct = sum(v for _, v in idle)
    if idle_pct:
        text.append(f" · idle {idle_pct:.0f}%", style="grey50")
    return text


def render_stacks(window: StackWindow | None, rows: int) -> Group | Text:
    """What fits in ``rows`` lines: functions first (they answer "where"), then thread states."""
    if window is None:
        return Text("no stacks yet (py-spy samples the target once it is attached)", style="grey50")
    if window.error:
        return Text(f"no stacks: {window.error}", style="yellow")
    gil = "" if window.gil_pct is None else f" · GIL held {window.gil_pct:.0f}%"
    head = Text(f"pid {window.pid} · {window.samples} samples · {window.t_start:.0f}-{window.t_end:.0f} s{gil}",
                style="grey50", no_wrap=True, overflow="ellipsis")
    n_threads = min(len(window.threads), max(1, rows // 3))
    n_funcs = max(1, rows - 2 - n_threads)
    table = Table(box=None, padding=(0, 1, 0, 0), show_edge=False, expand=True, header_style="bold")
    table.add_column("own%", justify="right", width=5)
    table.add_column("tot%", justify="right", width=5)
    table.add_column("function", no_wrap=True, overflow="ellipsis", ratio=1)
    for fn in window.functions[:n_funcs]:
        table.add_row(f"{fn.own_pct:.0f}", f"{fn.total_pct:.0f}", fn.name)
    return Group(head, table, *(thread_line(th) for th in window.threads[:n_threads]))


class StacksPanel(Static):
    _shown: tuple[int, int] | None = None  # (id of the window, rows) last rendered

    def show_window(self, window: StackWindow | None) -> None:
        """Re-render only when a new window closed or the panel was resized (windows close every few seconds)."""
        rows = max(3, self.content_size.height or 8)
        key = (id(window), rows)
        if key != self._shown:
            self._shown = key
            self.update(render_stacks(window, rows))
