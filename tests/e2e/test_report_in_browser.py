"""The HTML report in a real headless browser (Debian's chromium): it loads with no network, draws its charts and
the heatmap, and the screenshot is a real picture (not blank, the page's size)."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import msgspec
import pytest

from bottlenecktop.probes.load.stats import counts_of
from bottlenecktop.recording import Recording
from bottlenecktop.report import render_report
from bottlenecktop.tui.screenshots import CHROMIUM_FLAGS, chromium_binary
from tests.support.timeline_builder import TimelineBuilder, header, node, proc

CHROMIUM = chromium_binary()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")



def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the raw (filtered) scanlines of a PNG, with the standard library only."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def _recording() -> Recording:
    b = TimelineBuilder(header(ncpu=2))
    for rate, p99, ok in ((100, 23, True), (150, 25, True), (225, 600, False), (188, 30, True)):
        b.step(rate, achieved=min(rate, 195), p99=p99, sustained=ok, node=node(busy=10, ncpu=2),
               target=proc(cpu=10))
    fast = counts_of([20_000] * 95 + [24_000] * 5).encoded()
    slow = counts_of([300_000] * 50 + [700_000] * 50).encoded()
    for f in b.frames:
        if f.load is not None:
            f.load = msgspec.structs.replace(f.load, hist=slow if f.load.step == 2 else fast)
    b.outcome(188, p99=30, reason="p99")
    return Recording(header=b.header, frames=b.frames, verdict=None)


@pytest.mark.slow
def test_the_report_renders_in_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_report(_recording(), "html"))
    shot = tmp_path / "report.png"
    assert CHROMIUM is not None
    result = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                             f"--screenshot={shot}", "--window-size=900,1800", page.as_uri()],
                            capture_output=True, text=True, timeout=90)
    assert shot.exists(), result.stderr[-2000:]
    width, height, raw = png_pixels(shot)
    assert (width, height) == (900, 1800)
    # A drawn page: many distinct byte values across its rows (a blank or error page is nearly uniform).
    assert len(set(raw[:: max(1, len(raw) // 200_000)])) > 40
