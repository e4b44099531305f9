"""Notices that need a person's action (py-spy permission and its fix, a target that exited): shown, not raised."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from bottlenecktop.probes.printable import printable


class NoticeBar(Static):
    """Hidden while there is nothing to say."""

    def show_notices(self, notices: Sequence[str]) -> None:
        self.display = bool(notices)
        if notices:
            text = Text(no_wrap=False)
            for i, notice in enumerate(notices[-3:]):
                text.append(("\n" if i else "") + "⚠ " + printable(notice))
            self.update(text)
