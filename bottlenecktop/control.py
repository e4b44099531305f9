"""The commands the screen (or a signal handler) sends to a live run."""

from __future__ import annotations

from typing import Protocol


class Controller(Protocol):
    def command(self, name: str, value: float | str | None = None) -> None:
        """Send one command: pause, resume, hold, raise, lower, stop, mark, attach. ``mark`` takes a label,
        ``raise``/``lower`` an optional factor, ``attach`` a pid."""
        ...
