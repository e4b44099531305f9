"""Headless mode: no screen; a progress line per ramp step on stderr, the verdict summary on stdout."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from bottlenecktop.app.line_printer import LinePrinter
from bottlenecktop.errors import StdoutGone
from bottlenecktop.probes.printable import printable, printable_lines
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
    # The tick loop hands its lines over and goes on; a stderr that went away ends the run (exit 1).
    printer = LinePrinter(on_error=lambda exc: live.fail(f"writing to stderr failed: {type(exc).__name__}"))

    def on_frame(frame: Frame) -> None:
        for event in frame.events:
            printer.say(printable(f"bottlenecktop: {event.text}"))
        if frame.step is not None:
            status = live_status(session.header, session.snapshot())
            printer.say(printable(progress_line(frame.step, status.leading)))
        elif live.runner.driver is None and frame.t - last_line[0] >= OBSERVE_LINE_EVERY_S:
            last_line[0] = frame.t
            status = live_status(session.header, session.snapshot())
            leading = status.leading
            what = f"{leading.resource} ({leading.severity}): {leading.evidence[0]}" if leading and \
                leading.evidence else "nothing saturated"
            printer.say(printable(f"[{frame.t:5.0f} s] {what}"))

    session.subscribe(on_frame)
    for notice in live.notices:
        print(printable(f"bottlenecktop: {notice}"), file=sys.stderr)
    from bottlenecktop.redact import redact_url

    what = redact_url(live.config.url) or (f"pid {live.config.pid}" if live.config.pid else "this node")
    if live.demo is not None:
        what = f"the {live.demo.kind} demo at {live.demo.url} ({live.demo.description})"
    print(printable(f"bottlenecktop: {'ramping' if live.runner.driver else 'observing'} {what}"), file=sys.stderr,
          flush=True)
    live.runner.start()
    while not live.runner.wait(0.5):  # a short wait keeps signal handlers responsive
        pass
    printer.drain(2.0)  # the last step's line before the summary, unless stderr is stuck
    from bottlenecktop.summary import summary_text

    try:
        print(printable_lines(summary_text(live.finalize())), flush=True)
    except BrokenPipeError:
        raise StdoutGone() from None
