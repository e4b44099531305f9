"""The target's thread states over time, one row per state, shaded by the share of thread-time in it: where the
state mix changes at the knee (running gives way to a lock, a downstream, a disk). From the kernel's per-tick
view of every thread (frame.waits), so it works for a server in any language. Its columns span the same time
range as the plots above it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from bottlenecktop.session import Frame
from bottlenecktop.tui.plain import escaped

# (row label, the kernel's wait classes summed into it, colour at 100 %)
ROWS: tuple[tuple[str, tuple[str, ...], tuple[int, int, int]], ...] = (
    ("run", ("running",), (90, 200, 90)),
    ("lock", ("futex",), (230, 60, 60)),
    ("down", ("socket",), (200, 90, 220)),
    ("disk", ("disk",), (230, 200, 60)),
    ("idle", ("sleep", "idle", "other"), (150, 150, 150)),
)
LABEL = 6  # columns of row labels, about the width of the plots' left tick labels
FLOOR = (38, 38, 38)  # a state at 0 % of the thread-time: barely there
HOLD_S = 1.5  # a tick's shares fill the columns up to the next tick (ticks are 1 s apart by default)


LEVELS = 8  # shades per row: neighbouring columns of one shade are drawn as one run (cheap to render)


def _level(share: float) -> int:
    k = max(0.0, min(share, 1.0)) ** 0.6  # a few % still shows: the eye needs the small shares most
    return round(k * LEVELS)


@lru_cache(maxsize=64)  # a few shades per row, parsed once
def _blend(rgb: tuple[int, int, int], level: int) -> Style:
    k = level / LEVELS
    r, g, b = (round(f + (c - f) * k) for f, c in zip(FLOOR, rgb, strict=True))
    return Style(color=f"#{r:02x}{g:02x}{b:02x}")


def _shares(waits: dict[str, float]) -> dict[str, float]:
    return {label: sum(waits.get(k, 0.0) for k in kinds) / 100.0 for label, kinds, _ in ROWS}


_SHARES: dict[int, tuple[dict[str, float], dict[str, float]]] = {}  # id of a frame's waits -> (waits, shares)


def _shares_of(waits: dict[str, float]) -> dict[str, float]:
    """_shares, once per recorded sample: the strip bins the whole window every tick."""
    hit = _SHARES.get(id(waits))
    if hit is not None and hit[0] is waits:
        return hit[1]
    if len(_SHARES) > 4096:  # a bound: more than the window ever holds
        _SHARES.clear()
    shares = _shares(waits)
    _SHARES[id(waits)] = (waits, shares)
    return shares


def bins(frames: Sequence[Frame], x0: float, x1: float, columns: int,
         hold_s: float = HOLD_S) -> list[dict[str, float] | None]:
    """Per column over [x0, x1): the mean share (0..1) per row label of the frames in it; a column narrower than
    a tick holds the last frame's shares (up to HOLD_S), as the plots' lines do; None where there are no waits."""
    span = max(x1 - x0, 1e-9)
    width = span / max(columns, 1)
    sampled = [(f.t, _shares_of(f.waits.waits)) for f in frames if f.waits is not None and f.waits.waits]
    out: list[dict[str, float] | None] = []
    i = 0
    last: tuple[float, dict[str, float]] | None = None
    for c in range(columns):
        a, b = x0 + c * width, x0 + (c + 1) * width
        inside: list[dict[str, float]] = []
        while i < len(sampled) and sampled[i][0] < b:
            if sampled[i][0] >= a:
                inside.append(sampled[i][1])
            last = sampled[i]
            i += 1
        if inside:
            out.append({label: sum(s[label] for s in inside) / len(inside) for label in inside[0]})
        elif last is not None and a - last[0] <= hold_s and i < len(sampled):
            out.append(last[1])  # between two ticks: the earlier one holds
        else:
            out.append(None)
    return out


class StateStrip(Static):
    def show(self, frames: Sequence[Frame], x0: float, x1: float) -> None:
        width = max(self.content_size.width, LABEL + 1)
        columns = width - LABEL
        cells = bins(frames, x0, x1, columns)
        out = Text(no_wrap=True, overflow="crop")
        rows = ROWS[:max(1, self.content_size.height or len(ROWS))]
        for i, (label, _, rgb) in enumerate(rows):
            out.append(f"{label:<{LABEL - 1}} ", style="dim")
            styles = {level: _blend(rgb, level) for level in range(LEVELS + 1)}
            run: list[int | None] = [None if cell is None else _level(cell.get(label, 0.0)) for cell in cells]
            start = 0
            for end in range(1, len(run) + 1):
                if end == len(run) or run[end] != run[start]:
                    level = run[start]
                    n = end - start
                    if level is None:
                        out.append(" " * n)
                    else:
                        out.append("█" * n, styles[level])
                    start = end
            if i < len(rows) - 1:
                out.append("\n")
        last = next((f.waits for f in reversed(frames) if f.waits is not None and f.waits.waits), None)
        now = "" if last is None else "  ".join(
            f"{label} {sum(last.waits.get(k, 0.0) for k in kinds):.0f}%" for label, kinds, _ in ROWS)
        self.border_title = f"thread states (kernel) {now}".rstrip()
        self.update(escaped(out), layout=False)  # a fixed height: a layout pass would re-render the whole screen
