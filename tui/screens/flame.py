"""The flame graph of the target's stacks: which window (the knee's step, the worst step, the whole run, or the
latest window of a live run), the icicle, and what the selected frame costs. Arrows move the selection, enter
drills into it, escape backs out one level and then closes; w takes the next window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static

from bottlenecktop.analysis.flame import FlameNode, FlameWindow, describe, diff_tree, find, flame_tree
from bottlenecktop.tui.plain import plain
from bottlenecktop.tui.widgets.flame_graph import FlameGraph


class FlameScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move('up')", "Caller", show=False),
        Binding("down", "move('down')", "Callee", show=False),
        Binding("left", "move('left')", "Prev", show=False),
        Binding("right", "move('right')", "Next", show=False),
        Binding("enter", "zoom", "Drill in"),
        Binding("escape", "back", "Back out"),
        Binding("w", "next_window", "Window"),
        Binding("q", "close", "Close"),
    ]

    def __init__(self, windows: Sequence[FlameWindow], *, base: Sequence[FlameWindow] = (),
                 title: str = "flame") -> None:
        """WINDOWS: the choices, most telling first. BASE (compare): the base run's windows, same order; each
        window is then drawn as the differential of the base run's to this one's."""
        super().__init__()
        self.windows = list(windows)
        self.base = list(base)
        self.title_text = title
        self.index = 0

    def compose(self) -> ComposeResult:
        yield Static(id="flame-title")
        yield FlameGraph(id="flame")
        yield Static(id="flame-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._show()
        self.query_one(FlameGraph).focus()

    def flame_root(self) -> FlameNode:
        if not self.windows:
            return FlameNode("all")
        tree = flame_tree(self.windows[self.index].windows)
        if self.base:
            base = self.base[min(self.index, len(self.base) - 1)]
            tree = diff_tree(flame_tree(base.windows), tree)
        return tree

    def _show(self, zoom: tuple[str, ...] = (), selected: tuple[str, ...] = ()) -> None:
        graph = self.query_one(FlameGraph)
        graph.show(self.flame_root(), zoom, selected)
        self._caption()

    def _caption(self) -> None:
        graph = self.query_one(FlameGraph)
        if self.windows:
            w = self.windows[self.index]
            which = f"{w.label} · t {w.t_start:.0f}-{w.t_end:.0f} s · {graph.root.count:,} samples"
            more = f" · w {self.index + 1}/{len(self.windows)}" if len(self.windows) > 1 else ""
            diff = " · red: more of the time than the base run, blue: less" if self.base else ""
        else:
            which, more, diff = "no stack windows yet", "", ""
        zoomed = f" · in {graph.zoom[-1]}" if graph.zoom else ""
        self.query_one("#flame-title", Static).update(plain(f"{self.title_text}: {which}{more}{zoomed}{diff}"))
        node = find(graph.root, graph.selected) or graph.root
        self.query_one("#flame-detail", Static).update(plain(" " + describe(node, graph.root.count)))

    def action_move(self, way: str) -> None:
        graph = self.query_one(FlameGraph)
        sel = graph.selected
        node = find(graph.root, sel) or graph.root
        if way == "down" and node.children:
            sel = (*sel, node.ranked()[0].name)
        elif way == "up" and len(sel) > len(graph.zoom):
            sel = sel[:-1]
        elif way in ("left", "right") and len(sel) > len(graph.zoom):
            parent = find(graph.root, sel[:-1]) or graph.root
            names = [c.name for c in parent.ranked()]
            i = names.index(sel[-1]) + (1 if way == "right" else -1)
            if 0 <= i < len(names):
                sel = (*sel[:-1], names[i])
        else:
            self.app.bell()
            return
        zoom = graph.zoom
        if len(sel) - len(zoom) >= max(graph.size.height, 1):  # below the last row: follow it down
            zoom = sel[:len(sel) - graph.size.height + 1]
        graph.show(graph.root, zoom, sel)
        self._caption()

    def action_zoom(self) -> None:
        graph = self.query_one(FlameGraph)
        if graph.selected == graph.zoom:
            self.app.bell()
            return
        graph.show(graph.root, graph.selected, graph.selected)
        self._caption()

    def action_back(self) -> None:
        graph = self.query_one(FlameGraph)
        if not graph.zoom:
            self.dismiss()
            return
        graph.show(graph.root, graph.zoom[:-1], graph.selected)
        self._caption()

    def action_close(self) -> None:
        self.dismiss()

    def action_next_window(self) -> None:
        if len(self.windows) < 2:
            self.app.bell()
            return
        self.index = (self.index + 1) % len(self.windows)
        self._show()
