"""Lines for the terminal written by a thread of their own, so that a terminal nobody reads (gone without a
SIGHUP, a hung SSH session, a pipe whose reader stopped) blocks that thread and never the tick loop."""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable

MAX_QUEUED = 1000  # lines waiting for a stuck terminal; beyond that they are dropped


class LinePrinter:
    """``say`` never blocks; ``on_error`` is called once, on the printer's thread, when a write fails (a closed
    pipe): the caller decides whether that ends the run."""

    def __init__(self, on_error: Callable[[OSError], object]) -> None:
        self._lines: queue.Queue[str] = queue.Queue(MAX_QUEUED)
        self._on_error = on_error
        self._failed = False
        threading.Thread(target=self._run, name="line-printer", daemon=True).start()

    def say(self, line: str) -> None:
        if self._failed:
            return
        with contextlib.suppress(queue.Full):  # a terminal stuck for 1,000 lines: the rest is not worth a tick
            self._lines.put_nowait(line)

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the queued lines to be written; False if they were not."""
        deadline = time.monotonic() + timeout
        while self._lines.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._lines.unfinished_tasks

    def _run(self) -> None:
        while True:
            line = self._lines.get()
            try:
                if not self._failed:
                    print(line, file=sys.stderr, flush=True)
            except (OSError, ValueError) as exc:
                if not self._failed:
                    self._failed = True
                    self._on_error(exc if isinstance(exc, OSError) else OSError(str(exc)))
            finally:
                self._lines.task_done()
