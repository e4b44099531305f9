"""Flame graphs (icicles) of the target's stacks: the tree of a set of stack windows, the windows that matter
(the knee's step, the worst step, the whole run), the boxes of an icicle laid out on a grid, and the differential
tree of two runs. Pure functions: the screen (tui.screens.flame) and the report's SVG draw what they return."""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bottlenecktop.analysis.knee import find_knee, steps_of
from bottlenecktop.probes.samples import StackWindow, StepResult
from bottlenecktop.session import Frame

ROOT = "all"
RGB = tuple[int, int, int]
# Colours that mean something, the same on the screen and in the report: running code warm, a lock red, a call to
# another service blue, disk ochre, sleeping grey. Two shades per state, picked by the frame's name, so that
# neighbouring boxes of one state stay apart.
STATE_COLOURS: dict[str, tuple[RGB, RGB]] = {
    "running": ((226, 122, 40), (238, 160, 58)),
    "lock": ((196, 48, 48), (222, 84, 84)),
    "client": ((58, 108, 200), (84, 138, 224)),
    "socket": ((58, 108, 200), (84, 138, 224)),
    "disk": ((176, 146, 34), (200, 172, 60)),
    "sleep": ((112, 112, 112), (134, 134, 134)),
    "other": ((112, 112, 112), (134, 134, 134)),
}
STATE_WORDS = {"running": "running", "lock": "lock", "client": "downstream", "socket": "socket", "disk": "disk",
               "sleep": "sleep", "other": "other"}
DIFF_FULL_PTS = 10.0  # a frame whose share moved this many points (or more) gets the fullest red or blue
WindowKind = Literal["knee", "worst", "run", "latest"]
# A step's window is closed on the tick the step ends: allow that tick's lateness when matching windows to steps.
STEP_SLACK_S = 1.5


@dataclass
class FlameNode:
    name: str
    count: int = 0  # samples with this frame on the stack at this position (itself and below)
    states: Counter[str] = field(default_factory=Counter)  # the same samples by state (running, lock, ...)
    children: dict[str, FlameNode] = field(default_factory=dict)
    delta: float | None = None  # differential trees: share of all samples now minus in the base run, in points

    @property
    def state(self) -> str:
        """The state most of this node's samples were in."""
        return self.states.most_common(1)[0][0] if self.states else "running"

    def ranked(self) -> list[FlameNode]:
        """Children, widest first (ties by name, so that the layout is stable from one tick to the next)."""
        return sorted(self.children.values(), key=lambda n: (-n.count, n.name))

    def own(self) -> int:
        """Samples that end in this frame (on top of the stack)."""
        return self.count - sum(c.count for c in self.children.values())


@dataclass(frozen=True)
class FlameWindow:
    """The stack windows one flame graph is made of, and what to call them."""

    kind: WindowKind
    label: str  # "the knee (step 3, 600 req/s)", "the whole run"
    windows: tuple[StackWindow, ...]

    @property
    def t_start(self) -> float:
        return min(w.t_start for w in self.windows)

    @property
    def t_end(self) -> float:
        return max(w.t_end for w in self.windows)


def flame_tree(windows: Iterable[StackWindow]) -> FlameNode:
    """One tree of every folded stack in WINDOWS, under a root that counts them all."""
    root = FlameNode(ROOT)
    for w in windows:
        for stack in w.folded:
            names = [w.names[i] for i in stack.frames if 0 <= i < len(w.names)]
            node = root
            node.count += stack.count
            node.states[stack.state] += stack.count
            for name in names:
                node = node.children.setdefault(name, FlameNode(name))
                node.count += stack.count
                node.states[stack.state] += stack.count
    return root


def _stack_windows(frames: Sequence[Frame]) -> list[StackWindow]:
    return [f.stacks for f in frames if f.stacks is not None and f.stacks.folded]


def _step_windows(windows: Sequence[StackWindow], step: StepResult) -> tuple[StackWindow, ...]:
    return tuple(w for w in windows if step.t_start < w.t_end <= step.t_end + STEP_SLACK_S)


def flame_windows(frames: Sequence[Frame], steps: Sequence[StepResult],
                  knee: StepResult | None) -> list[FlameWindow]:
    """The windows worth a flame graph, most telling first: the knee's step, the step with the worst p99 (when it
    is another), then the whole run. Empty when the run recorded no folded stacks."""
    windows = _stack_windows(frames)
    if not windows:
        return []
    out: list[FlameWindow] = []
    if knee is not None and (at_knee := _step_windows(windows, knee)):
        out.append(FlameWindow("knee", f"the knee (step {knee.step}, {knee.offered_rps:,.0f} req/s)", at_knee))
    worst = max(steps, key=lambda s: s.p99_ms, default=None)
    if worst is not None and worst is not knee and (at_worst := _step_windows(windows, worst)):
        out.append(FlameWindow("worst", f"the worst p99 (step {worst.step}, {worst.offered_rps:,.0f} req/s, "
                               f"p99 {worst.p99_ms:,.0f} ms)", at_worst))
    out.append(FlameWindow("run", "the whole run", tuple(windows)))
    return out


def run_windows(frames: Sequence[Frame]) -> list[FlameWindow]:
    """flame_windows with the run's own steps and knee."""
    steps = steps_of(frames)
    return flame_windows(frames, steps, find_knee(steps))


def paired(base: Sequence[FlameWindow], new: Sequence[FlameWindow]) -> list[tuple[FlameWindow, FlameWindow]]:
    """The windows of two runs that answer the same question (the knee of each, the whole of each)."""
    by_kind = {w.kind: w for w in base}
    return [(by_kind[w.kind], w) for w in new if w.kind in by_kind]


def latest_window(frames: Sequence[Frame]) -> FlameWindow | None:
    """The last window with stacks: the live screen's default."""
    windows = _stack_windows(frames)
    return FlameWindow("latest", "the latest window", (windows[-1],)) if windows else None


@dataclass(frozen=True)
class Box:
    """One frame of an icicle: columns [x0, x1) of row ``depth`` (0 is the root)."""

    depth: int
    x0: int
    x1: int
    node: FlameNode
    path: tuple[str, ...]  # names from the root's child down to this node: how drill-down finds it again


def layout(root: FlameNode, width: int, max_depth: int) -> list[Box]:
    """Boxes of the icicle of ROOT on WIDTH columns and at most MAX_DEPTH rows; a frame narrower than one column
    is left out (its samples still widen its parent). Columns are apportioned by cumulative counts, so that the
    boxes of a row never overlap and never exceed their parent."""
    boxes: list[Box] = []
    if root.count <= 0 or width <= 0 or max_depth <= 0:
        return boxes

    def place(node: FlameNode, depth: int, x0: int, x1: int, path: tuple[str, ...]) -> None:
        boxes.append(Box(depth, x0, x1, node, path))
        if depth + 1 >= max_depth or not node.children:
            return
        scale = (x1 - x0) / node.count
        done = 0
        for child in node.ranked():
            a = x0 + round(done * scale)
            done += child.count
            b = x0 + round(done * scale)
            if b > a:
                place(child, depth + 1, a, b, (*path, child.name))

    place(root, 0, 0, width, ())
    return boxes


def find(root: FlameNode, path: Sequence[str]) -> FlameNode | None:
    node = root
    for name in path:
        child = node.children.get(name)
        if child is None:
            return None
        node = child
    return node


def diff_tree(base: FlameNode, new: FlameNode) -> FlameNode:
    """The differential flame graph: NEW's tree (widths are the new run's samples), each node marked with how its
    share of all samples changed from BASE, in percentage points (positive: it takes more of the time now). A
    frame only in BASE is not drawn, as in flamegraph.pl's difffolded: its loss shows in its parent's delta."""
    base_total, new_total = max(base.count, 1), max(new.count, 1)

    def walk(b: FlameNode | None, n: FlameNode) -> FlameNode:
        before = (b.count / base_total) if b is not None else 0.0
        out = FlameNode(n.name, n.count, Counter(n.states), delta=100.0 * (n.count / new_total - before))
        for name, child in n.children.items():
            out.children[name] = walk(b.children.get(name) if b is not None else None, child)
        return out

    return walk(base, new)


def diff_colour(delta: float) -> RGB:
    """White for no change, towards red as a frame took more of the time, towards blue as it took less."""
    k = min(abs(delta) / DIFF_FULL_PTS, 1.0)
    fade = round(230 - 150 * k)
    return (230, fade, fade) if delta > 0 else (fade, fade, 230)


def box_colour(node: FlameNode) -> RGB:
    if node.delta is not None:
        return diff_colour(node.delta)
    pair = STATE_COLOURS.get(node.state, STATE_COLOURS["other"])
    return pair[zlib.crc32(node.name.encode()) & 1]


def describe(node: FlameNode, total: int) -> str:
    """'work (work.py) · 61.2 % of the samples, 12.0 % on top · lock 80 %, running 20 %'."""
    share = 100.0 * node.count / max(total, 1)
    own = 100.0 * node.own() / max(total, 1)
    mix = ", ".join(f"{STATE_WORDS.get(state, state)} {100.0 * n / max(node.count, 1):.0f} %"
                    for state, n in node.states.most_common(3))
    text = f"{node.name} · {share:.1f} % of the samples, {own:.1f} % on top · {mix}"
    if node.delta is not None:
        text += f" · {node.delta:+.1f} pts vs the base run"
    return text
