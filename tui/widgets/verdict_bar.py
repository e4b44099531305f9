"""The one line on top: the leading finding with its evidence, the magic number, the ramp phase."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from bottlenecktop.probes.printable import printable
from bottlenecktop.tui.status import BarStatus

SEVERITY_CLASSES = ("-saturated", "-warning", "-ok", "-exited", "-final")


def render_status(status: BarStatus) -> Text:
    """``[phase] magic N req/s │ finding: evidence`` (the finding is last so truncation eats evidence first)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f" {status.phase.upper()} ", style="reverse")
    if status.magic_rps is not None:
        label = "magic" if status.final else "so far"
        text.append(f" {label} ")
        at_least = "≥ " if status.lower_bound else ""  # the driver was the limit, not the target
        text.append(f"{at_least}{status.magic_rps:,.0f} req/s", style="bold")
    text.append(" │ ")
    text.append(printable(status.finding) or "no resource saturated", style="bold" if status.finding else "")
    return text


def render_bar(status: BarStatus) -> Text | Group:
    """The status line, and under it the final verdict's what-if and admission line (each cut at the edge)."""
    line = render_status(status)
    if not status.next_step:
        return line
    return Group(line, Text(f" {printable(status.next_step)}", no_wrap=True, overflow="ellipsis"))


class VerdictBar(Static):
    """Coloured by severity through CSS classes; the look is in app.tcss."""

    status: reactive[BarStatus | None] = reactive(None, always_update=True)

    def watch_status(self, status: BarStatus | None) -> None:
        if status is None:
            return
        for cls in SEVERITY_CLASSES:
            self.set_class(cls == f"-{status.severity}", cls)
        self.set_class(bool(status.next_step), "-two")  # the final verdict's what-if and admission line
        # Its height is the CSS's (one line, two with -two, whose change lays the screen out by itself): a layout
        # pass on every tick would re-render every panel, the plots included.
        self.update(render_bar(status), layout=False)
