"""Series colours as RGB, so a line and its legend match on every terminal theme (named plotext colours go
through the terminal's ANSI palette, where magenta and red can look the same)."""

from __future__ import annotations

RGB = tuple[int, int, int]

OFFERED: RGB = (140, 140, 140)
ACHIEVED: RGB = (120, 210, 80)
P50: RGB = (80, 200, 230)
P99: RGB = (255, 165, 0)
ERRORS: RGB = (255, 60, 60)
STEP: RGB = (90, 90, 90)
MARK: RGB = (190, 120, 255)
HOT: RGB = (255, 45, 45)  # the saturated resource

RESOURCES: dict[str, RGB] = {
    "cpu": (70, 140, 255),
    "cpu-thread": (0, 210, 210),
    "memory": (110, 190, 90),
    "disk": (230, 200, 60),
    "network": (200, 110, 230),
}


def hex_of(rgb: RGB) -> str:
    """(255, 165, 0) -> '#ffa500', for Textual markup in titles."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def nice_ticks(top: float, count: int = 3) -> tuple[list[float], list[str]]:
    """``count`` round ticks from 0 to at least ``top``, with short labels ('1.5k'), for a narrow y axis."""
    if top <= 0:
        return [0.0], ["0"]
    raw = top / max(1, count - 1)
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [i * step for i in range(count)]
    return ticks, [_short(t) for t in ticks]


def _short(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"
