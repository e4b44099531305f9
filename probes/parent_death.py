"""Children that die with bottlenecktop: PR_SET_PDEATHSIG set in the child between fork and exec.

The kernel sends the signal when the *thread* that forked the child exits, not only the process: spawn from a
thread that lives as long as the child is meant to (the tick loop, or the main thread).
"""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
# Loaded here, in the parent: the child between fork and exec should only make the one system call.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen`` that has the child receive ``sig`` when its parent dies; None
    where the kernel has no such thing (then the child relies on its own checks)."""
    libc = _libc
    if libc is None:
        return None

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return preexec
