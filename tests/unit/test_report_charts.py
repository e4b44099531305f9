"""The report's charts: rounded axes, the ramp's steps shaded, the knee, the magic number and the SLO marked, and
a latency heatmap from the recorded histograms."""

from __future__ import annotations

import re

import msgspec

from bottlenecktop.probes.load.stats import counts_of
from bottlenecktop.recording import Recording
from bottlenecktop.recording.format import HistWindow
from bottlenecktop.report import BANDS_MS, band_labels, latency_heatmap, render_report
from bottlenecktop.svgchart import nice_ticks
from tests.support.timeline_builder import TimelineBuilder, header, node, proc


def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(2.16, 37.2) == [0, 10, 20, 30, 40]
    assert nice_ticks(0, 0.9) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 1234) == [0, 500, 1000, 1500]


def _recording() -> Recording:
    b = TimelineBuilder(header(ncpu=2))
    for rate, p99, ok in ((100, 23, True), (150, 25, True), (225, 600, False)):
        b.step(rate, achieved=min(rate, 195), p99=p99, sustained=ok, node=node(busy=10, ncpu=2),
               target=proc(cpu=10))
    fast = counts_of([20_000] * 90 + [24_000] * 10).encoded()
    slow = counts_of([300_000] * 50 + [900_000] * 50).encoded()
    for f in b.frames:
        if f.load is not None:
            f.load = msgspec.structs.replace(f.load, hist=slow if f.load.step == 2 else fast)
    b.outcome(150, p99=25, reason="p99")
    return Recording(header=b.header, frames=b.frames, verdict=None)


def test_the_heatmap_puts_each_second_in_its_latency_bands() -> None:
    heat = latency_heatmap(_recording())
    assert len(heat) == 15 and heat[0][1] - heat[0][0] == 1.0
    twenty = next(i for i, hi in enumerate(BANDS_MS) if hi > 20)
    assert heat[0][2][twenty] == 1.0  # 20-24 ms: the 20-50 band
    last = heat[-1][2]
    assert abs(sum(last) - 1.0) < 1e-9 and last[BANDS_MS.index(500)] == 0.5 and last[BANDS_MS.index(1000)] == 0.5
    assert band_labels()[0] == "<1 ms" and band_labels()[-1] == ">5,000 ms"


def test_a_recording_with_merged_windows_is_drawn_by_window() -> None:
    rec = _recording()
    for f in rec.frames:
        if f.load is not None:
            f.load = msgspec.structs.replace(f.load, hist="")
    rec.hists = [HistWindow(t_start=0.0, t_end=5.0, step=0, seconds=5, hist=counts_of([20_000] * 10).encoded())]
    assert latency_heatmap(rec) == [(0.0, 5.0, [0.0] * BANDS_MS.index(50) + [1.0] + [0.0] * (len(BANDS_MS) - 5))]


def test_the_html_marks_the_steps_the_knee_the_magic_number_and_the_slo() -> None:
    page = render_report(_recording(), "html")
    assert page.count('class="step"') >= 3 * 3  # three steps shaded on each of the three time charts
    assert 'fill="#fbe3e3"' in page  # the failed step tinted
    assert "SLO p99 500 ms" in page and "magic number 150 req/s" in page
    assert re.search(r"knee \d+ req/s", page)
    assert page.count('class="cell"') > 0 and "Latency by second" in page
    # Ticks are round numbers, not the data's own extremes.
    ticks = re.findall(r'class="tick"[^>]*>([^<]+)</text>', page)
    assert "0" in ticks and all(not re.fullmatch(r"\d+\.\d{2,}", t) for t in ticks), ticks
    assert "<script" not in page and "http://" not in page.split("Command:")[0].replace("http://127.0.0.1", "")
