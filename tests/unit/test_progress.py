"""The ramp's progress: step, rate, time in and a bound on time left that follows the ramp's rules."""

from __future__ import annotations

from bottlenecktop.progress import ramp_progress, time_left
from bottlenecktop.session import RampInfo
from tests.support.timeline_builder import TimelineBuilder, header, node, proc

RAMP = RampInfo(start_rps=100, step_factor=1.5, step_seconds=3, confirm_seconds=5, search_steps=3,
                confirm_retries=2)


def _ramp(ramp: RampInfo, *rates_and_phases: tuple[float, str]) -> TimelineBuilder:
    hdr = header(ncpu=2)
    hdr.ramp = ramp
    b = TimelineBuilder(hdr)
    for rate, phase in rates_and_phases:
        b.step(rate, seconds=3, phase=phase, node=node(busy=10, ncpu=2), target=proc(cpu=5))  # type: ignore[arg-type]
    return b


def test_ramping_without_a_cap_is_bounded_only_by_max_time() -> None:
    b = _ramp(RAMP, (100, "ramping"))
    assert time_left(RAMP, "ramping", 150, b.frames, 3) is None
    assert "until the first step that fails" in ramp_progress(b.header, b.frames)
    capped = RampInfo(**{**{f: getattr(RAMP, f) for f in RAMP.__struct_fields__}, "max_time_s": 60.0})
    assert time_left(capped, "ramping", 150, b.frames, 20) == 40


def test_a_cap_bounds_the_ramp_up_the_search_and_the_confirmation() -> None:
    ramp = RampInfo(**{**{f: getattr(RAMP, f) for f in RAMP.__struct_fields__}, "max_rps": 337.5})
    b = _ramp(ramp, (100, "ramping"))
    # 150 -> 225 -> 337.5: three steps up (the current one included), then 3 probes + a rerun, 3 confirmations.
    assert time_left(ramp, "ramping", 150, b.frames, 3) == 3 * 4 + 4 * 4 + 3 * 6


def test_searching_counts_the_probes_done_and_confirming_the_tries_left() -> None:
    b = _ramp(RAMP, (100, "ramping"), (150, "ramping"), (225, "ramping"), (188, "searching"))
    assert time_left(RAMP, "searching", 206, b.frames, 12) == (2 + 1) * 4 + 3 * 6
    b2 = _ramp(RAMP, (100, "ramping"), (188, "searching"), (188, "confirming"))
    assert time_left(RAMP, "confirming", 188, b2.frames, 12) == 2 * 6
    line = ramp_progress(b.header, b.frames)
    assert line.startswith("step 3 · searching 188 req/s · ") and line.endswith("at most 30 s left"), line
    assert ramp_progress(b.header, b.frames, compact=True).endswith(" s · ≤30 s left")


def test_no_ramp_no_progress() -> None:
    b = _ramp(RAMP, (100, "ramping"))
    b.outcome(100)
    assert ramp_progress(b.header, b.frames) == ""
    b.header.ramp = None
    assert ramp_progress(b.header, b.frames) == ""
