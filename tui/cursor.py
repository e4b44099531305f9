"""The replay time cursor: which frames count as "so far". Pure, so replay uses the live refresh path."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from bottlenecktop.analysis.knee import steps_of
from bottlenecktop.session import Frame


class TimeCursor:
    """An index into a finished timeline; the frames up to and including it are the ones shown."""

    def __init__(self, frames: Sequence[Frame]) -> None:
        self.frames = frames
        self.index = len(frames) - 1  # start at the end: the whole run, its verdict

    @property
    def t(self) -> float:
        """Session seconds at the cursor (0 when the timeline is empty)."""
        return self.frames[self.index].t if self.frames else 0.0

    @property
    def at_end(self) -> bool:
        return self.index >= len(self.frames) - 1

    def so_far(self) -> Sequence[Frame]:
        return self.frames[: self.index + 1]

    def step(self, ticks: int) -> None:
        """Move by ``ticks`` frames, clamped to the timeline."""
        if self.frames:
            self.index = max(0, min(len(self.frames) - 1, self.index + ticks))

    def home(self) -> None:
        self.index = 0

    def end(self) -> None:
        self.index = len(self.frames) - 1

    def _jump(self, times: list[float], forward: bool) -> bool:
        """Move to the next (or previous) of ``times``; False when there is none that way."""
        frame_times = [f.t for f in self.frames]
        if forward:
            later = [t for t in times if t > self.t]
            if not later:
                return False
            self.index = min(len(self.frames) - 1, bisect.bisect_left(frame_times, min(later)))
        else:
            earlier = [t for t in times if t < self.t]
            if not earlier:
                return False
            self.index = max(0, bisect.bisect_left(frame_times, max(earlier)))
        return True

    def jump_step(self, forward: bool = True) -> bool:
        """To the end of the next (or previous) finished ramp step."""
        return self._jump([s.t_end for s in steps_of(self.frames)], forward)

    def jump_mark(self, forward: bool = True) -> bool:
        """To the next (or previous) mark a person set."""
        return self._jump([f.t for f in self.frames if f.marks], forward)

    def jump_to(self, t: float) -> bool:
        """To the first frame at or after ``t`` session seconds (the last frame when none)."""
        if not self.frames:
            return False
        frame_times = [f.t for f in self.frames]
        self.index = min(len(self.frames) - 1, bisect.bisect_left(frame_times, t))
        return True

    def jump_knee(self, knee_rps: float | None = None) -> bool:
        """To the end of the last sustained step (the knee), or of the step nearest ``knee_rps`` when given."""
        steps = steps_of(self.frames)
        if not steps:
            return False
        if knee_rps is not None:
            target = min(steps, key=lambda s: abs(s.offered_rps - knee_rps))
        else:
            sustained = [s for s in steps if s.sustained]
            target = sustained[-1] if sustained else steps[0]
        frame_times = [f.t for f in self.frames]
        self.index = min(len(self.frames) - 1, bisect.bisect_left(frame_times, target.t_end))
        return True
