"""Children that die with bottlenecktop: PR_SET_PDEATHSIG, set by util-linux's ``setpriv --pdeathsig`` before it
execs the child, or else in the child between fork and exec.

The kernel sends the signal when the *thread* that forked the child exits, not only the process: spawn from a
thread that lives as long as the child is meant to (the tick loop, or the main thread).

``setpriv`` first: a ``preexec_fn`` makes subprocess fork() instead of vfork(), which copies the parent's page
tables, 3 ms of our CPU per py-spy dump (benchmarks/child_spawn_cost.py); setpriv keeps the vfork.
"""

from __future__ import annotations

import ctypes
import functools
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
# Loaded here, in the parent: the child between fork and exec should only make the one system call.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


@functools.cache
def working_setpriv() -> str | None:
    """util-linux's setpriv if it takes ``--pdeathsig`` (2.33 and later; busybox's does not), tried once."""
    path = shutil.which("setpriv") if _libc is not None else None
    return path if path is not None and takes_pdeathsig(path) else None


def takes_pdeathsig(setpriv: str) -> bool:
    """Whether ``setpriv --pdeathsig=KILL -- true`` runs (an older one exits 1 on the unknown option)."""
    try:
        done = subprocess.run([setpriv, "--pdeathsig=KILL", "--", "true"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen`` that has the child receive ``sig`` when its parent dies; None
    where the kernel has no such thing (then the child relies on its own checks)."""
    libc = _libc
    if libc is None:
        return None

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return preexec


def dying_with_parent(cmd: list[str], sig: int = signal.SIGKILL,
                      use_setpriv: bool = True) -> tuple[list[str], Callable[[], None] | None]:
    """(command, preexec_fn) for ``subprocess.Popen`` that start ``cmd`` with ``sig`` as its parent-death
    signal: through setpriv (same pid, vfork kept) where it works, else through a preexec_fn."""
    setpriv = working_setpriv() if use_setpriv else None
    if setpriv is not None:
        return [setpriv, f"--pdeathsig={signal.Signals(sig).name.removeprefix('SIG')}", "--", *cmd], None
    return cmd, die_with_parent(sig)
