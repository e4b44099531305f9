"""A screen whose terminal went away without a SIGHUP (a wrapper that does not pass it on, an SSH session that
hangs) blocks for ever in its writes: its event loop stops. Watched from another thread, that is a hangup."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Seconds without a beat of the screen's loop before its terminal is taken as gone. Long enough for a busy box and
# a person's Ctrl-S; the run is then closed as after SIGHUP (the recording, the verdict and --json complete).
SCREEN_GONE_S = 30.0


@contextmanager
def watch_screen(alive_at: Callable[[], float], on_gone: Callable[[], object],
                 gone_after_s: float = SCREEN_GONE_S) -> Iterator[None]:
    """While the block runs, call ``on_gone()`` once (on a watcher thread) if ``alive_at()`` (monotonic seconds
    of the loop's last beat) falls ``gone_after_s`` behind."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(min(1.0, gone_after_s / 4)):
            if time.monotonic() - alive_at() > gone_after_s:
                on_gone()
                return

    watcher = threading.Thread(target=watch, name="screen-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
