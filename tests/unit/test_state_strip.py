"""The thread-state strip: each column the mean share of the frames in it, the gaps between ticks held, and the
rows the kernel's classes summed as the labels say."""

from __future__ import annotations

from bottlenecktop.probes.samples import WaitSample
from bottlenecktop.session import Frame
from bottlenecktop.tui.widgets.state_strip import bins


def _frame(t: float, running: float, futex: float) -> Frame:
    return Frame(t=t, waits=WaitSample(t_start=t - 1, t_end=t, waits={"running": running, "futex": futex,
                                                                      "sleep": 100 - running - futex}))


def test_columns_average_their_frames_and_hold_between_ticks() -> None:
    frames = [_frame(float(t), 80.0 if t < 5 else 10.0, 0.0 if t < 5 else 70.0) for t in range(10)]
    coarse = bins(frames, 0.0, 10.0, 2)  # five ticks per column
    assert coarse[0] is not None and round(coarse[0]["run"], 2) == 0.8 and coarse[0]["lock"] == 0.0
    assert coarse[1] is not None and round(coarse[1]["lock"], 2) == 0.7 and round(coarse[1]["idle"], 2) == 0.2
    fine = bins(frames, 0.0, 10.0, 40)  # four columns per tick: the three between two ticks hold the first
    assert all(cell is not None for cell in fine[:37])
    assert fine[21] is not None and fine[21]["lock"] == 0.7
    assert fine[-1] is None  # after the last tick nothing is known yet
    assert bins([Frame(t=1.0)], 0.0, 10.0, 5) == [None] * 5
