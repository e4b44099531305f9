"""Child side of the demo's lifecycle: die with the parent, by PR_SET_PDEATHSIG and by EOF on stdin.

PDEATHSIG fires when the parent *thread* that forked us exits, so the launcher forks from one long-lived
thread. The stdin pipe is the second line: when every copy of its write end is closed (the parent is gone,
however it went), a read returns EOF and we exit.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import threading
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
_cleanups: list[Callable[[], None]] = []
# When the parent dies, SIGTERM comes twice (PDEATHSIG and the stdin watcher): a second handler, nested in the
# first one's cleanups, must return to them instead of leaving at once with a temp dir half deleted.
_exiting = threading.RLock()
_exit_started = False


def on_exit(fn: Callable[[], None]) -> None:
    """Run ``fn`` before this process exits by SIGTERM, SIGINT, parent death or stdin EOF (last added, first run)."""
    _cleanups.append(fn)


def forget_cleanups() -> None:
    """Drop inherited cleanups: a forked child must not undo its parent's resources."""
    _cleanups.clear()


def exit_now(code: int = 0) -> None:
    """Run the cleanups (each at most once, errors ignored) and leave at once, whatever threads still run."""
    global _exit_started
    with _exiting:  # another thread waits here until the first caller's os._exit
        if _exit_started:  # nested in our own cleanups (a second signal): let them finish
            return
        _exit_started = True
        while _cleanups:
            fn = _cleanups.pop()
            with contextlib.suppress(Exception):  # a failed cleanup must not keep the process alive
                fn()
        os._exit(code)


def _on_signal(signum: int, _frame: object) -> None:
    exit_now(0)


def die_with_parent(parent_pid: int | None) -> None:
    """Exit (running the cleanups) on SIGTERM or SIGINT, and get SIGTERM when the parent dies.

    Call from the main thread, before starting threads. A fork clears PDEATHSIG, so a forked child calls it
    again with its own parent's pid.
    """
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if parent_pid is None:
        return
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    # The parent may have died before prctl took effect: then we were re-parented already.
    if os.getppid() != parent_pid:
        exit_now(0)


def _read_until_eof() -> None:
    try:
        # Wait in select first: a stack probe then sees this thread idle (a bare blocking read looks busy).
        while select.select([0], [], [])[0] and os.read(0, 4096):
            pass
    except (OSError, ValueError):
        pass
    # Let the main thread run the cleanups, outside any lock this thread might interrupt.
    os.kill(os.getpid(), signal.SIGTERM)


def watch_stdin() -> None:
    """Start a daemon thread that exits the process when stdin (the pipe from the parent) reaches EOF."""
    threading.Thread(target=_read_until_eof, name="lifeline", daemon=True).start()
