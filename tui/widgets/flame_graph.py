"""An icicle of the target's stacks (the root on top, callees below), one row per stack depth, coloured by what
the samples were doing: running code in warm colours, a lock in red, a downstream call in blue. A differential
tree (two runs) is coloured by how each frame's share of the time changed: red took more, blue took less.
The selection moves with the arrow keys; the screen (tui.screens.flame) zooms and backs out."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from bottlenecktop.analysis.flame import RGB, Box, FlameNode, box_colour, find, layout
from bottlenecktop.probes.printable import printable


def _hex(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


class FlameGraph(Widget, can_focus=True):
    """Draws the icicle of ``root`` from ``zoom`` (a path of frame names) down, ``selected`` highlighted."""

    DEFAULT_CSS = "FlameGraph { height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.root = FlameNode("all")
        self.zoom: tuple[str, ...] = ()
        self.selected: tuple[str, ...] = ()

    def show(self, root: FlameNode, zoom: tuple[str, ...] = (), selected: tuple[str, ...] = ()) -> None:
        self.root = root
        self.zoom = zoom if find(root, zoom) is not None else ()
        self.selected = selected if find(root, selected) is not None else self.zoom
        self.refresh()

    @property
    def base(self) -> FlameNode:
        """The node drawn full width: the zoomed one, else the root."""
        return find(self.root, self.zoom) or self.root

    def boxes(self) -> list[Box]:
        """The boxes on screen, their paths from the whole tree's root."""
        width, rows = max(self.size.width, 1), max(self.size.height, 1)
        return [Box(b.depth, b.x0, b.x1, b.node, (*self.zoom, *b.path))
                for b in layout(self.base, width, rows)]

    def render(self) -> Text:
        width, rows = max(self.size.width, 1), max(self.size.height, 1)
        if self.root.count == 0:
            return Text("no stacks in this window (py-spy reads Python targets; idle waits are left out)",
                        style="dim")
        lines: list[list[Box]] = [[] for _ in range(rows)]
        for box in self.boxes():
            lines[box.depth].append(box)
        out = Text(no_wrap=True, overflow="crop")
        for depth, boxes in enumerate(lines):
            x = 0
            for box in sorted(boxes, key=lambda b: b.x0):
                if box.x0 > x:
                    out.append(" " * (box.x0 - x))
                span = box.x1 - box.x0
                label = printable(box.node.name)[:span - 1] if span > 1 else ""
                label = label.ljust(span - 1) + ("▕" if span > 1 else "▏")
                chosen = box.path == self.selected
                bg = (255, 255, 255) if chosen else box_colour(box.node)
                out.append(label, Style(color="black", bgcolor=_hex(bg), bold=chosen))
                x = box.x1
            if x < width:
                out.append(" " * (width - x))
            if depth < rows - 1:
                out.append("\n")
        return out
