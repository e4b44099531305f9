"""Shown instead of the panels when the terminal is below the minimum size."""

from __future__ import annotations

from textual.widgets import Static


class TooSmall(Static):
    def show_size(self, width: int, height: int, min_width: int, min_height: int) -> None:
        self.update(f"Terminal too small: {width}x{height}.\nbottlenecktop needs at least {min_width}x{min_height}."
                    "\nEnlarge the window (the run goes on), or press q to quit.")
