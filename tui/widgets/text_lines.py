"""A panel of text drawn line by line (Textual's line API): new text repaints only the lines that changed.

A Static re-renders its whole height whenever its text changes; the stacks panel's kernel line changes every
tick while the rest waits for the next stack window, and re-rendering its 40 rows was the screen's largest
per-tick cost at 160x48 (benchmarks/tui_idle_cost.py --modes ramp).
"""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

from bottlenecktop.tui.plain import escaped


def _same(a: Text, b: Text) -> bool:
    return a.plain == b.plain and a.spans == b.spans and a.style == b.style


class TextLines(Widget):
    """Each line is cut at the panel's edge with an ellipsis; its height is the text's (height: auto) or the
    layout's."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: list[Text] = []
        self._strips: dict[int, Strip] = {}
        self._strips_width = -1

    @property
    def text(self) -> Text:
        """What the panel shows, as one Text."""
        return Text("\n").join(self._lines)

    def render(self) -> Text:  # for tests and str(): the whole text, as a Static's render would give it
        return self.text

    def show_text(self, text: Text) -> None:
        """Show ``text``: repaint the lines that differ from what is shown, or all of them when the number of
        lines changed (and lay out again if the panel's height is auto)."""
        lines = list(escaped(text).split("\n", allow_blank=True))
        old, self._lines = self._lines, lines
        if len(lines) != len(old):
            self._strips.clear()
            height = self.styles.height
            # a layout pass re-renders the whole screen: only when the panel's height follows its text
            self.refresh(layout=height is not None and height.is_auto)
            return
        width = self.size.width
        for y, (a, b) in enumerate(zip(old, lines, strict=True)):
            if not _same(a, b):
                self._strips.pop(y, None)
                self.refresh(Region(0, y, width, 1))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # a new theme or class: the cached lines have the old colours

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width != self._strips_width:
            self._strips.clear()
            self._strips_width = width
        strip = self._strips.get(y)
        if strip is None:
            base = self.rich_style
            if y < len(self._lines):
                line = self._lines[y].copy()
                line.truncate(width, overflow="ellipsis")
                segments = Segment.apply_style(line.render(self.app.console), base)
                strip = Strip(segments).crop_extend(0, width, base)
            else:
                strip = Strip.blank(width, base)
            self._strips[y] = strip
        return strip
