"""Writing a recording: one record per tick, a zlib sync flush after each, a new gzip member every
RECORDS_PER_MEMBER records, a background sync to the disk every SYNC_INTERVAL_S."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import platformdirs

from bottlenecktop.probes.printable import printable
from bottlenecktop.recording.format import (
    FORMAT,
    HIST_WINDOW_S,
    INTEGRITY,
    RECORDS_PER_MEMBER,
    SUFFIX,
    SYNC_INTERVAL_S,
    HistWindow,
    _round_floats,
    seal,
)
from bottlenecktop.redact import redact_argv, redact_url
from bottlenecktop.session import Frame, Header
from bottlenecktop.verdict_types import Verdict


def default_recording_path(now: float | None = None) -> Path:
    """A new timestamped file under the user data dir, e.g. ``~/.local/share/bottlenecktop/recordings/
    bottlenecktop-20250101-120000.jsonl.gz``; ``now`` is unix time (default: the current time)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    folder = platformdirs.user_data_path("bottlenecktop") / "recordings"
    path = folder / f"bottlenecktop-{stamp}{SUFFIX}"
    n = 2
    # Two runs in one second: never reuse a name. lexists, not exists: a link whose target is missing (planted,
    # or left over) is a name taken too, and the writer never writes through a link.
    while os.path.lexists(path) and n < 1000:
        path = folder / f"bottlenecktop-{stamp}-{n}{SUFFIX}"
        n += 1
    return path


def _safe_header(header: Header) -> Header:
    """The header with secrets redacted: a caller that forgot cannot leak a token into the file."""
    target = msgspec.structs.replace(header.target, url=redact_url(header.target.url)) if header.target.url else (
        header.target
    )
    return msgspec.structs.replace(header, command_line=redact_argv(header.command_line), target=target)


class _HistMerger:
    """Merges the per-second HdrHistograms of one step and phase into windows of up to HIST_WINDOW_S."""

    def __init__(self) -> None:
        self.acc: Any = None  # hdrh.histogram.HdrHistogram
        self.window: HistWindow | None = None

    def add(self, frame: Frame) -> tuple[HistWindow | None, bool]:
        """Take the frame's histogram; returns (a finished window to write or None, whether it was merged)."""
        load = frame.load
        if load is None or not load.hist:
            return None, False
        from hdrh.histogram import HdrHistogram  # imported on first use: replay and compare never need it

        done: HistWindow | None = None
        w = self.window
        if w is not None and (w.step != load.step or w.phase != load.phase or load.t - w.t_start > HIST_WINDOW_S):
            done = self.flush()
        try:
            if self.acc is None:
                self.acc = HdrHistogram.decode(load.hist)
                self.window = HistWindow(t_start=load.t - load.dt, t_end=load.t, step=load.step, phase=load.phase)
            else:
                self.acc.decode_and_add(load.hist)
        except Exception:  # an undecodable histogram stays in its frame, unmerged
            return done, False
        assert self.window is not None
        self.window.t_end = load.t
        self.window.seconds += 1
        return done, True

    def flush(self) -> HistWindow | None:
        w, acc = self.window, self.acc
        self.window, self.acc = None, None
        if w is None or acc is None:
            return None
        encoded = acc.encode()
        w.hist = encoded.decode() if isinstance(encoded, bytes) else str(encoded)
        return w


def _sync_dir(folder: Path) -> None:
    """fsync a directory, so that the name of a file just created in it survives a power loss."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


class _Syncer:
    """Syncs a file to the disk every ``interval`` seconds while it grows, on a thread of its own: the tick
    that appends never waits for the disk. Holds its own duplicate of the descriptor, so the writer may close
    (or truncate) its own at any moment."""

    def __init__(self, fd: int, interval: float, size: Callable[[], int], say: Callable[[str], None]) -> None:
        self.interval = interval
        self.syncs = 0  # how many times the file was synced
        self.seconds = 0.0  # wall time spent in those syncs, seconds
        self.max_seconds = 0.0  # the longest one
        self.sync: Callable[[int], None] = _datasync  # a seam for tests that count the calls
        self._fd = os.dup(fd)
        self._size, self._say = size, say
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recording-sync", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        synced = -1
        try:
            while not self._stop.wait(self.interval):
                size = self._size()
                if size == synced:
                    continue  # nothing new since the last sync
                t0 = time.perf_counter()
                try:
                    self.sync(self._fd)
                except OSError as exc:
                    self._say(f"recording: sync to disk failed: {exc.strerror or exc}")
                    return
                took = time.perf_counter() - t0
                self.syncs += 1
                self.seconds += took
                self.max_seconds = max(self.max_seconds, took)
                synced = size
        finally:
            with contextlib.suppress(OSError):
                os.close(self._fd)

    def stop(self, wait: float = 0.0) -> None:
        """Ask the thread to end; wait up to ``wait`` seconds for a sync in flight (0: do not wait)."""
        self._stop.set()
        if wait > 0:
            self._thread.join(wait)


class RecordingWriter:
    """Appends one session to one file, crash-safe. Never raises after construction, nor in it.

    ``second_hists=False`` (default) moves each second's latency histogram into merged ``hist`` records of up
    to HIST_WINDOW_S (one step and phase each): the per-second percentiles stay in every frame, and the file
    is about half the size. Pass True to keep every second's histogram in its frame.

    ``sync_interval_s`` is the bound on what a power loss costs: the file is synced (fdatasync) that often by a
    background thread while it grows; None never syncs before ``close``.
    """

    def __init__(self, path: Path, header: Header, second_hists: bool = False,
                 sync_interval_s: float | None = SYNC_INTERVAL_S) -> None:
        self.path = Path(path)
        self.error: str | None = None
        self.frames_written = 0
        self._second_hists = second_hists
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._comp: Any = None  # zlib compressobj of the open gzip member
        self._member_records = 0
        self._good_size = 0  # bytes on disk that end on a complete record
        self._seq = 0  # the next record's sequence number (the header is 0)
        self._head: dict[str, Any] = {}  # the header's fields, repeated in each member's first record
        self.syncer: _Syncer | None = None
        self._hists = _HistMerger()
        self._enc = msgspec.json.Encoder()
        self._write: Callable[[int, bytes], int] = os.write  # a seam for tests that fake a full disk
        self._shown = printable(str(self.path))  # the path in messages, control characters escaped
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._fail(f"cannot create {self._shown}: {exc.strerror or exc}")
            return
        try:
            # O_EXCL: never truncate a file that may hold an earlier recording; with O_CREAT it also refuses
            # any symbolic link, a dangling one included (O_NOFOLLOW says so where O_EXCL alone might not).
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW
                               | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            if self.path.is_symlink():
                self._fail(f"{self._shown} is a symbolic link; not writing through it")
            else:
                self._fail(f"{self._shown} already exists; not overwriting it")
            return
        except OSError as exc:
            self._fail(f"cannot create {self._shown}: {exc.strerror or exc}")
            return
        _sync_dir(self.path.parent)
        head = msgspec.to_builtins(_safe_header(header))
        # Header omits fields at their defaults, schema_version among them: always state it in the file.
        self._head = {"format": FORMAT, **head, "schema_version": header.schema_version, "integrity": INTEGRITY}
        self._put({"kind": "header", **self._head})
        if sync_interval_s is not None and self._fd is not None:
            self.syncer = _Syncer(self._fd, sync_interval_s, lambda: self._good_size, self._say)

    # The records -------------------------------------------------------------------------------------

    def append(self, frame: Frame) -> None:
        """Write one tick. Returns when the bytes are in the kernel (a kill -9 after that keeps them)."""
        with self._lock:
            if self._fd is None:
                return
            if not self._second_hists:
                done, merged = self._hists.add(frame)
                if done is not None:
                    self._put({"kind": "hist", **msgspec.to_builtins(done)})
                if merged and frame.load is not None:
                    frame = msgspec.structs.replace(frame, load=msgspec.structs.replace(frame.load, hist=""))
            self._put({"kind": "frame", **msgspec.to_builtins(frame)})
            if self._fd is not None:
                self.frames_written += 1

    def write_verdict(self, verdict: Verdict) -> None:
        """Write the final verdict (the last one written wins when read back)."""
        with self._lock:
            try:
                data = verdict.to_json_dict()
            except (TypeError, ValueError) as exc:  # an odd value in it: say so, keep the rest
                self._say(f"recording {self._shown}: a verdict record could not be encoded: {exc}")
                return
            self._put({"kind": "verdict", "verdict": data})

    def close(self) -> None:
        """Flush the pending histogram window, write the ``end`` record, finish the gzip member, fsync. Idempotent."""
        with self._lock:
            if self._fd is None:
                return
            done = self._hists.flush()
            if done is not None:
                self._put({"kind": "hist", **msgspec.to_builtins(done)})
            self._put({"kind": "end", "frames": self.frames_written}, finish=True)
            if self.syncer is not None:
                self.syncer.stop(wait=5.0)
            fd, self._fd = self._fd, None
            if fd is not None:
                try:
                    os.fsync(fd)
                except OSError as exc:
                    self._say(f"recording {self._shown}: fsync failed: {exc.strerror or exc}")
                os.close(fd)

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Bytes -------------------------------------------------------------------------------------------

    def _put(self, record: dict[str, Any], finish: bool = False) -> None:
        if self._fd is None:
            return
        data = b""
        if self._comp is None:
            self._comp = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip member
            self._member_records = 0
            if self._seq > 0:  # each later member begins with the header again: damage to one loses neither
                data += self._comp.compress(self._seal({"kind": "member", **self._head}))
                self._member_records += 1
        try:
            line = self._seal(record)
        except (TypeError, ValueError, msgspec.EncodeError) as exc:  # a verdict with an odd value: skip it
            self._say(f"recording {self._shown}: a {record.get('kind')} record could not be encoded: {exc}")
            if self._member_records == 0:
                return
            line = b""
        data += self._comp.compress(line)
        self._member_records += 1 if line else 0
        if finish or self._member_records >= RECORDS_PER_MEMBER:
            data += self._comp.flush(zlib.Z_FINISH)
            self._comp = None
        else:
            data += self._comp.flush(zlib.Z_SYNC_FLUSH)
        self._write_all(data)

    def _seal(self, record: dict[str, Any]) -> bytes:
        """The record's line, with the next sequence number and its CRC32 (docs/recording-format.md)."""
        line = seal(self._enc.encode(_round_floats({**record, "seq": self._seq})))
        self._seq += 1
        return line

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                n = self._write(self._fd, view)  # type: ignore[arg-type]
                if n <= 0:
                    raise OSError(errno.EIO, "write returned 0")
                view = view[n:]
        except OSError as exc:
            # Said as "recording stopped: <this>" by the run (app/live.py): no "recording stopped" here.
            self._fail(f"cannot write {self._shown}: {exc.strerror or exc}; {self.frames_written} ticks kept")
            return
        self._good_size += len(data)

    def _fail(self, message: str) -> None:
        """Say it once, cut a half-written record off the end, stop writing; what was written stays."""
        self._say(message)
        fd, self._fd = self._fd, None
        self._comp = None
        if self.syncer is not None:
            self.syncer.stop()
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, self._good_size)  # shrinking needs no space; a reader would skip it anyway
        with contextlib.suppress(OSError):
            os.close(fd)

    def _say(self, message: str) -> None:
        if self.error is None:
            self.error = message
