"""How bottlenecktop starts its own Python children (the load driver, load agents, the demo's servers), and the
one line a child that died left on its stderr."""

from __future__ import annotations

import os
import signal
import sys
from typing import IO

from bottlenecktop.probes.printable import printable

_TAIL_BYTES = 4096  # the end of a child's stderr is enough for its last line, whatever it wrote before
_LINE_CHARS = 300


def module_argv(module: str) -> list[str]:
    """The command that runs ``module`` of the installed bottlenecktop in this interpreter.

    ``-P`` (Python 3.11): ``-m`` would otherwise put the current directory first on sys.path, so started from a
    clone's root the child would import the source folder bottlenecktop/ (where bottlenecktop.probes does not
    exist: it is mapped from probes/ when installed), and from a folder holding a user's own bottlenecktop/, that.
    """
    return [sys.executable, "-P", "-m", module]


def last_line(stderr: IO[bytes]) -> str:
    """The last non-empty line written to ``stderr`` (a file the child wrote), as printable text, at most 300
    characters; "" when it wrote nothing."""
    try:
        size = os.fstat(stderr.fileno()).st_size
        stderr.seek(max(0, size - _TAIL_BYTES))
        tail = stderr.read(_TAIL_BYTES).decode(errors="replace")
    except (OSError, ValueError):
        return ""
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    if not lines:
        return ""
    line = printable(lines[-1])
    return line if len(line) <= _LINE_CHARS else line[: _LINE_CHARS - 1] + "…"


def exit_text(code: int) -> str:
    """'exit status 1', or 'killed by SIGKILL' for a child a signal ended (Popen's negative return code)."""
    if code >= 0:
        return f"exit status {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"
