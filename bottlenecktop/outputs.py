"""Files the program writes for the person: the verdict JSON, reports.

How a path is written (the rules a shell redirect follows, made safe):
- a regular file, or a name that does not exist yet: the data goes to a private temporary file in the same
  directory (``mkstemp``: a random name, created 0600, never a file that was there before) and then replaces the
  name in one step, so a reader never sees half a file and a planted ``NAME.tmp`` is never touched;
- a FIFO or a character device (``/dev/stdout``, ``/dev/null``, a pipe to another program): written into, as a
  shell redirect does; it is never replaced by a file; a FIFO with no reader, or a reader or a terminal that
  stops reading, fails the write after WAIT_S instead of blocking the run's close for ever;
- a symlink: resolved, and its target written by the rules above; the link itself stays a link;
- a directory, a block device or a socket: refused;
- an input of this run (a recording being read or written; compared by device and inode, so another spelling or
  a hard link is caught): refused, an input is never overwritten.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from bottlenecktop.errors import RunFailed

WAIT_S = 5.0  # seconds a FIFO or a device may take to take the data (a reader to come, a full pipe to drain)


def same_file(a: Path | str, b: Path | str) -> bool:
    """True when both names lead to one file (same device and inode); False when either does not exist."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def write_json(path: Path, data: dict[str, Any], inputs: Sequence[Path | str] = ()) -> None:
    """Write a JSON document (indented, newline-terminated) to ``path`` by the rules in the module docstring."""
    write_bytes(path, msgspec.json.format(msgspec.json.encode(data), indent=2) + b"\n", inputs)


def write_text(path: Path, text: str, inputs: Sequence[Path | str] = ()) -> None:
    """Write ``text`` (UTF-8) to ``path`` by the rules in the module docstring."""
    write_bytes(path, text.encode(), inputs)


def write_bytes(path: Path, data: bytes, inputs: Sequence[Path | str] = ()) -> None:
    """Write ``data`` to ``path`` by the rules in the module docstring; RunFailed (one line) when it cannot."""
    for source in inputs:
        if same_file(path, source):
            raise RunFailed(f"not writing {path}: it is the input {source}, and an input is never overwritten")
    real = Path(os.path.realpath(path))
    try:
        info: os.stat_result | None = os.stat(real)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise RunFailed(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        if info is not None and (stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode)):
            _write_into(real, data)
        elif info is not None and not stat.S_ISREG(info.st_mode):
            raise RunFailed(f"not writing {path}: it is not a regular file, a FIFO or a character device")
        else:
            _replace(real, data)
    except OSError as exc:
        raise RunFailed(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_into(path: Path, data: bytes, wait_s: float = WAIT_S) -> None:
    """Write into a FIFO or a device the way ``>`` does (no create, no replace), within ``wait_s`` seconds: a FIFO
    opens only once it has a reader, so it is opened non-blocking and tried again until one comes."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: a FIFO with no reader yet
                raise
            if time.monotonic() >= deadline:
                raise RunFailed(f"cannot write {path}: nothing read from it within {wait_s:g} s") from None
            time.sleep(0.05)
    try:
        view = memoryview(data)
        ready = select.poll()  # poll, not epoll: epoll refuses devices such as /dev/null and /dev/full
        ready.register(fd, select.POLLOUT)
        while view:
            try:
                view = view[os.write(fd, view):]
                continue
            except BlockingIOError:
                pass
            left = deadline - time.monotonic()
            if left <= 0 or not ready.poll(left * 1000):
                raise RunFailed(f"cannot write {path}: its reader stopped reading for {wait_s:g} s")
    finally:
        os.close(fd)


def _replace(path: Path, data: bytes) -> None:
    """Write a private temp file beside ``path``, sync it, and rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
