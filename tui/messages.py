"""Messages the screen posts to itself. ``FrameAdded`` is posted from the engine's tick thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from bottlenecktop.session import Frame
from bottlenecktop.verdict_types import Verdict


@dataclass
class FrameAdded(Message):
    """A frame was appended to the live session (posted with the thread-safe ``post_message``)."""

    frame: Frame


@dataclass
class VerdictReady(Message):
    """The run is over and its final verdict is known (posted from the engine's thread)."""

    verdict: Verdict
