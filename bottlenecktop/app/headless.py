"""Headless mode: no screen; a progress line per ramp step on stderr, the verdict summary on stdout."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from bottlenecktop.session import Frame

if TYPE_CHECKING:
    from bottlenecktop.app.live import LiveRun

OBSERVE_LINE_EVERY_S = 10.0


def run_headless(live: LiveRun) -> None:
    """Run the session to its end (ramp done, --max-time, or a signal), printing as it goes."""
    from bottlenecktop.analysis.verdict import live_status
    from bottlenecktop.summary import progress_line

    session = live.session
    last_line = [0.0]

    def on_frame(frame: Frame) -> None:
        for event in frame.events:
            print(f"bottlenecktop: {event.text}", file=sys.stderr, flush=True)
        if frame.step is not None:
            status = live_status(session.header, session.snapshot())
            print(progress_line(frame.step, status.leading), file=sys.stderr, flush=True)
        elif live.runner.driver is None and frame.t - last_line[0] >= OBSERVE_LINE_EVERY_S:
            last_line[0] = frame.t
            status = live_status(session.header, session.snapshot())
            leading = status.leading
            what = f"{leading.resource} ({leading.severity}): {leading.evidence[0]}" if leading and \
                leading.evidence else "nothing saturated"
            print(f"[{frame.t:5.0f} s] {what}", file=sys.stderr, flush=True)

    session.subscribe(on_frame)
    for notice in live.notices:
        print(f"bottlenecktop: {notice}", file=sys.stderr)
    what = live.config.url or (f"pid {live.config.pid}" if live.config.pid else "this node")
    if live.demo is not None:
        what = f"the {live.demo.kind} demo at {live.demo.url} ({live.demo.description})"
    print(f"bottlenecktop: {'ramping' if live.runner.driver else 'observing'} {what}", file=sys.stderr, flush=True)
    live.runner.start()
    while not live.runner.wait(0.5):  # a short wait keeps signal handlers responsive
        pass
    from bottlenecktop.summary import summary_text

    print(summary_text(live.finalize()), flush=True)
