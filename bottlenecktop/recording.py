"""Recordings: one crash-safe file per session, appended tick by tick, read back into the same Session.

The format (docs/recording-format.md has the long version): gzip-compressed JSON Lines, one record per line,
each record an object whose first key is ``kind``: ``header`` (first), ``frame`` (one per tick), ``hist`` (the
merged latency histogram of a window of a few seconds), ``member`` (a copy of the header at the start of every
later gzip member), ``verdict`` and ``end`` (on a clean close). Every record ends with its sequence number and a
CRC32 of its own bytes, so a changed value is detected, never accepted. Every record is followed by a zlib sync
flush, so the bytes on disk always end on a record boundary except while a write is in flight: ``kill -9``
keeps every complete tick. Every 60 records the gzip member is closed and a new one begun, so a damaged byte
costs at most the rest of its member; ``zcat FILE | jq`` reads the whole thing. A background thread syncs the
file to the disk every SYNC_INTERVAL_S.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import math
import os
import stat
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import platformdirs

from bottlenecktop.redact import redact_argv, redact_url
from bottlenecktop.session import SCHEMA_VERSION, Frame, Header, Session, frame_from_legacy
from bottlenecktop.verdict_types import Verdict, verdict_from_json

FORMAT = "bottlenecktop.recording"
SUFFIX = ".jsonl.gz"
RECORDS_PER_MEMBER = 60  # gzip member length: what one damaged byte can cost at most
HIST_WINDOW_S = 10.0  # longest window whose per-second latency histograms are merged into one hist record
SIGNIFICANT_DIGITS = 6  # floats are stored to 6 significant digits (and never coarser than 0.01)
SYNC_INTERVAL_S = 10.0  # the file is synced to the disk at least this often while bytes are being added
INTEGRITY = "crc32"  # the header's ``integrity``: every record ends with ``"seq":N,"crc32":"8 hex digits"``
_GZIP_MAGIC = b"\x1f\x8b\x08"
_SYNC_MARK = b"\x00\x00\xff\xff"  # how a zlib sync flush ends: the writer's bytes end so after each record
_CRC_KEY = b',"crc32":"'
_CRC_TAIL = len(_CRC_KEY) + 8 + 2  # ',"crc32":"' + 8 hex digits + '"}'
_SEQ_KEY = b',"seq":'
_MAX_LINE = 16 << 20  # bytes; a real record is a few KB: a longer "line" is damage, not a reason to fill memory
_LATEST_START = 1e11  # unix seconds (year 5138): a later started_at is damage or a hostile file, not a run
_MAX_PENDING = 4 * RECORDS_PER_MEMBER  # records held while looking for an intact header (its next copy)
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # JSON has no NaN: a string, read back


class RecordingError(Exception):
    """A file that cannot be read as a recording; ``str()`` is one line for the person."""


class HistWindow(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The driver's latency histograms of consecutive seconds of one step and phase, merged (HdrHistogram)."""

    t_start: float  # start of the first second, session clock seconds
    t_end: float  # end of the last second
    step: int = 0
    phase: str = ""
    seconds: int = 0  # how many LoadSeconds were merged
    hist: str = ""  # HdrHistogram base64 encoding (same parameters as the driver's)


class Recording(msgspec.Struct, kw_only=True):
    """A recording read back: what was complete on disk, and a notice of what was skipped."""

    header: Header
    frames: list[Frame]
    verdict: Verdict | None = None  # None also when the recorded one does not decode: readers build it
    notice: str = ""  # "" when nothing was skipped and the run closed; else the problems, then the unclosed end
    hists: list[HistWindow] = []
    closed: bool = False  # the writer closed it cleanly (an ``end`` record is present)
    problems: list[str] = []  # damage and truncation found (each a phrase); [] when every record read is intact
    path: Path | None = None


class _Kind(msgspec.Struct):
    kind: str = ""


class _VerdictRecord(msgspec.Struct):
    verdict: dict[str, Any] | None = None


class _Version(msgspec.Struct):
    schema_version: Any = 1


# ---------------------------------------------------------------------------------------------- writing


def default_recording_path(now: float | None = None) -> Path:
    """A new timestamped file under the user data dir, e.g. ``~/.local/share/bottlenecktop/recordings/
    bottlenecktop-20250101-120000.jsonl.gz``; ``now`` is unix time (default: the current time)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    folder = platformdirs.user_data_path("bottlenecktop") / "recordings"
    path = folder / f"bottlenecktop-{stamp}{SUFFIX}"
    n = 2
    while path.exists() and n < 1000:  # two runs in one second: never reuse a file
        path = folder / f"bottlenecktop-{stamp}-{n}{SUFFIX}"
        n += 1
    return path


def _round_floats(obj: Any) -> Any:
    """Floats to SIGNIFICANT_DIGITS (at least 2 decimals, so session times keep 10 ms), NaN and infinities to
    the strings "NaN", "Infinity", "-Infinity"; the rest unchanged.

    Measured rates and percentages carry no information past the 6th digit, and the noise digits are what
    compression cannot shrink (benchmarks/recording_size.py: about a third of the file)."""
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return _NON_FINITE[repr(obj)]  # read back by the lax (strict=False) decoders as the float
        if obj == 0.0:
            return obj
        return round(obj, max(SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(obj))), 2))
    if isinstance(obj, dict):
        return {k: _round_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round_floats(v) for v in obj]
    return obj


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


def seal(body: bytes) -> bytes:
    """A record's line: its JSON object ``body`` (which ends with ``"seq":N}``) with the CRC32 of exactly
    those bytes added as the last key, and a newline."""
    return body[:-1] + b'%s%08x"}\n' % (_CRC_KEY, zlib.crc32(body))


def unseal(line: bytes) -> tuple[bytes | None, bool]:
    """(the checked body, True) for a line whose CRC32 matches; (None, True) for a line that carries a checksum
    that does not match (or a mangled one); (None, False) for a line with no checksum at all (an older file)."""
    if len(line) > _CRC_TAIL and line[-_CRC_TAIL:-10] == _CRC_KEY and line.endswith(b'"}'):
        body = line[:-_CRC_TAIL] + b"}"
        return (body if line[-10:-2] == b"%08x" % zlib.crc32(body) else None), True
    return None, b'"crc32"' in line


def _seq_of(body: bytes) -> int | None:
    """The sequence number of a checked body (its last key, so the last ``,"seq":`` is the writer's)."""
    at = body.rfind(_SEQ_KEY)
    digits = body[at + len(_SEQ_KEY):-1] if at > 0 else b""
    return int(digits) if digits.isdigit() else None


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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._fail(f"cannot create {self.path}: {exc.strerror or exc}")
            return
        try:
            # O_EXCL: never truncate a file that may hold an earlier recording.
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except FileExistsError:
            self._fail(f"{self.path} already exists; not overwriting it")
            return
        except OSError as exc:
            self._fail(f"cannot create {self.path}: {exc.strerror or exc}")
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
                self._say(f"recording {self.path}: a verdict record could not be encoded: {exc}")
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
                    self._say(f"recording {self.path}: fsync failed: {exc.strerror or exc}")
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
            self._say(f"recording {self.path}: a {record.get('kind')} record could not be encoded: {exc}")
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
            self._fail(f"recording stopped, {self.path}: {exc.strerror or exc}; "
                       f"{self.frames_written} ticks kept")
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


# ---------------------------------------------------------------------------------------------- reading


def _file_bytes(path: Path) -> bytes:
    """The file's compressed bytes (a regular file or a pipe; they are a fraction of what they inflate to).
    Raises RecordingError (one line) for anything else."""
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
                raise RecordingError(f"{path} is not a regular file, not a recording")
            raw = f.read()
    except FileNotFoundError:
        raise RecordingError(f"no such recording: {path}") from None
    except IsADirectoryError:
        raise RecordingError(f"{path} is a directory, not a recording") from None
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not raw:
        raise RecordingError(f"{path} is empty, not a bottlenecktop recording")
    return raw


def _inflate_member(raw: bytes, pos: int, out: Callable[[bytes], None]) -> tuple[int, str]:
    """Inflate the gzip member at ``pos`` into ``out``; returns (where it ended, "ok" | "truncated" | "damaged").

    Fed in 4 KiB pieces with a copy of the inflater kept before each piece, so that on damage the piece is
    replayed byte by byte and every byte of text before the damage is kept."""
    d = zlib.decompressobj(31)
    at = pos
    piece = 4096
    while at < len(raw):
        saved = d.copy()
        chunk = raw[at:at + piece]
        try:
            out(d.decompress(chunk))
        except zlib.error:
            for i in range(len(chunk)):
                try:
                    out(saved.decompress(chunk[i:i + 1]))
                except zlib.error:
                    return at + i, "damaged"
            return at + len(chunk), "damaged"
        if d.eof:
            return at + len(chunk) - len(d.unused_data), "ok"
        at += len(chunk)
    return at, "truncated"


def _inflate(raw: bytes, lines: _Lines) -> bool:
    """Stream the text of a multi-member gzip file into ``lines``, saying each damaged stretch; returns whether
    the file ends in the middle of a record's bytes. Members begin on record boundaries, so after damage the
    reader picks up again at the next member (the next ``1f 8b 08`` that inflates)."""
    pos, size = 0, len(raw)
    while pos < size:
        if raw[pos:pos + 3] != _GZIP_MAGIC:
            if size - pos < 3 and _GZIP_MAGIC.startswith(raw[pos:]):
                return True  # the file ends inside a member's first bytes: a cut-off write
            status, end = "damaged", pos
        else:
            before = lines.fed
            end, status = _inflate_member(raw, pos, lines.feed)
            if status == "ok":
                pos = end
                continue
            if status == "truncated" and lines.fed > before:
                # A crash between records leaves a sync flush marker last; anything else is a cut record
                # (its text may not have come out of the inflater at all yet).
                return raw[-4:] != _SYNC_MARK
            if status == "truncated":  # every write holds a whole record: a member that gives none is damaged
                end = pos
        nxt = raw.find(_GZIP_MAGIC, max(end, pos + 1))
        lines.damaged_bytes(end, to_the_end=nxt < 0)
        if nxt < 0:
            return False
        pos = nxt
    return False


def read_recording(path: Path) -> Recording:
    """Read a recording up to its last complete record, one record at a time.

    Raises RecordingError (one line) for a missing or unreadable file, a file that is not a recording (or
    whose header and every copy of it are damaged), or a recording from a newer schema. Damage and truncation
    are not errors: a record whose checksum does not match is skipped and ``Recording.notice`` says what was
    skipped. Plain (uncompressed) JSON Lines in the same layout are read too, as are files without checksums
    (written before they were added).
    """
    path = Path(path)
    # Decoding allocates ~10^6 objects; collector passes over them (and over the caller's heap) would
    # cost more than the decoding, and nothing here makes reference cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        raw = _file_bytes(path)
        lines = _Lines(_Records(path))
        plain = raw[:4096].lstrip()[:1] == b"{"
        if raw[:2] == _GZIP_MAGIC[:2] or (not plain and raw.find(_GZIP_MAGIC) > 0):  # (a damaged first member)
            cut = _inflate(raw, lines)
        elif plain:
            for at in range(0, len(raw), 1 << 20):
                lines.feed(raw[at:at + (1 << 20)])
            cut = False
        else:
            raise RecordingError(f"{path} is not a bottlenecktop recording (neither gzip nor JSON Lines)")
        return lines.finish(cut)
    finally:
        if was_enabled:
            gc.enable()


class _Lines:
    """Splits streamed text into lines for ``_Records``; a line cut by damage, or absurdly long, is damage."""

    def __init__(self, records: _Records) -> None:
        self.records = records
        self.partial = b""  # text after the last newline
        self.overlong = False  # inside a line longer than _MAX_LINE: dropped up to its newline
        self.fed = 0  # bytes of text so far

    def feed(self, text: bytes) -> None:
        if not text:
            return
        self.fed += len(text)
        nl = text.find(b"\n")
        if nl < 0:
            self._hold(text)
            return
        first = self.partial + text[:nl]
        self.partial = b""
        if self.overlong:
            self.overlong = False
        else:
            self.records.line(first)
        rest = text[nl + 1:].split(b"\n")
        last = rest.pop()
        for line in rest:
            self.records.line(line)
        self._hold(last)

    def _hold(self, text: bytes) -> None:
        if self.overlong:
            return
        self.partial += text
        if len(self.partial) > _MAX_LINE:
            self.partial, self.overlong = b"", True
            self.records.skip()

    def damaged_bytes(self, at: int, to_the_end: bool) -> None:
        """Compressed bytes at ``at`` would not inflate: the record in progress is lost with them."""
        self.records.problem(f"damaged data at byte {at} of the file" + (", to its end" if to_the_end else ""))
        if self.partial or self.overlong:
            self.records.skip()
        self.partial, self.overlong = b"", False

    def finish(self, cut: bool) -> Recording:
        return self.records.finish(cut or bool(self.partial) or self.overlong)


class _Records:
    """Decodes lines into the Recording as they come: checks each record's checksum and sequence number, takes
    the header from the first intact header or member record, and counts what it had to skip."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind_dec = msgspec.json.Decoder(_Kind)
        # strict=False: "NaN", "Infinity" and "-Infinity" strings are read into float fields as those floats.
        self.frame_dec = msgspec.json.Decoder(Frame, strict=False)
        self.hist_dec = msgspec.json.Decoder(HistWindow, strict=False)
        self.verdict_dec = msgspec.json.Decoder(_VerdictRecord)
        self.header: Header | None = None
        self.checked = True  # every record must carry a matching checksum (False: an older file without them)
        self.header_note = ""
        self.pending: list[bytes] = []  # lines before an intact header, decoded once one is found
        self.sealed_seen = False  # a line with a checksum was seen: a recording of this version, damaged
        self.frames: list[Frame] = []
        self.hists: list[HistWindow] = []
        self.verdict: Verdict | None = None
        self.closed = False
        self.last_seq = -1
        self.skipped = 0
        self.skipped_since = 0  # records skipped since the last one whose sequence number was read
        self.first_skip = ""
        self.missing = 0
        self.first_missing = ""
        self.problems: list[str] = []

    # Lines ---------------------------------------------------------------------------------------

    def line(self, line: bytes) -> None:
        if not line.strip():
            return
        if self.header is not None:
            self._record(line)
            return
        body, sealed = unseal(line)
        self.sealed_seen = self.sealed_seen or sealed
        kind = self._kind(line) if body is not None or not sealed else None
        if body is not None and kind in ("header", "member"):
            self._take_header(line, checked=True, note="" if kind == "header" else "the header was damaged; "
                              f"read from its copy in record {_seq_of(body)}")
        elif not sealed and kind == "header" and b'"integrity"' not in line:
            self._take_header(line, checked=False, note="")  # written before records carried checksums
        else:  # damage, or not a recording: known at the end (a later member may hold a copy)
            self.pending.append(line)
            if len(self.pending) > _MAX_PENDING:
                del self.pending[0]
                self.skip()

    def _kind(self, line: bytes) -> str | None:
        """The record's kind, or None for a line that is not a JSON object."""
        if line.startswith(b'{"kind":"frame"'):  # the writer puts "kind" first: spares a second parse
            return "frame"
        try:
            return self.kind_dec.decode(line).kind
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return None

    def _take_header(self, line: bytes, checked: bool, note: str) -> None:
        try:
            version = msgspec.json.decode(line, type=_Version).schema_version
            header = msgspec.json.decode(line, type=Header, strict=False)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            if checked:  # intact bytes of a shape this version cannot read: not damage, a different file
                raise RecordingError(f"{self.path}: the header record has a shape this version cannot read") from None
            raise RecordingError(f"{self.path} is not a bottlenecktop recording (unreadable header)") from None
        if not isinstance(version, int) or isinstance(version, bool):
            raise RecordingError(f"{self.path}: the header's schema_version is not a number")
        if version > SCHEMA_VERSION:
            raise RecordingError(
                f"{self.path} was written by a newer bottlenecktop (recording schema {version}; this version reads "
                f"schema {SCHEMA_VERSION} and older): upgrade bottlenecktop to read it"
            )
        if not (0.0 <= header.started_at < _LATEST_START and 0.0 < header.interval < 86400.0):
            raise RecordingError(f"{self.path}: the header's started_at or interval is not a plausible time")
        self.header, self.checked, self.header_note = header, checked, note
        pending, self.pending = self.pending, []
        for held in pending:
            self._record(held)
        self._record(line)

    def _record(self, line: bytes) -> None:
        """One line once the header is known: checked, then decoded into its place; skipped when damaged."""
        body, sealed = unseal(line)
        if body is not None:
            seq = _seq_of(body)
            if seq is None or seq <= self.last_seq:  # a record repeated or moved by damage
                self.skip()
                return
            lost = seq - self.last_seq - 1 - self.skipped_since  # the skipped ones are said already
            if lost > 0:
                self.missing += lost
                self.first_missing = self.first_missing or self._where()
            self.last_seq, self.skipped_since = seq, 0
        elif sealed or self.checked:
            self.skip()
            return
        try:
            kind = self._kind(line)
            if kind == "frame":
                self.frames.append(self._frame(line))
            elif kind == "hist":
                self.hists.append(self.hist_dec.decode(line))
            elif kind == "verdict":
                self.verdict = verdict_from_json(self.verdict_dec.decode(line).verdict)
            elif kind == "end":
                self.closed = True
            elif kind is None:
                self.skip()
            # header and member: the header is known; other kinds: added by a later version of the same
            # schema, skipped on purpose
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            self.skip()

    def _frame(self, line: bytes) -> Frame:
        try:
            return self.frame_dec.decode(line)
        except msgspec.ValidationError:  # written before events had a kind (rare: most frames have no events)
            return frame_from_legacy(line)

    # What was skipped ------------------------------------------------------------------------------

    def _where(self) -> str:
        return f"after tick {len(self.frames)}" + (f" (t={self.frames[-1].t:.1f} s)" if self.frames else "")

    def skip(self) -> None:
        """A record that could not be used (damaged, cut or out of place)."""
        self.skipped += 1
        self.skipped_since += 1
        self.first_skip = self.first_skip or self._where()

    def problem(self, text: str) -> None:
        if len(self.problems) < 3:
            self.problems.append(text)
        elif len(self.problems) == 3:
            self.problems.append("more damage after that")

    def finish(self, cut: bool) -> Recording:
        if self.header is None:
            if self.sealed_seen or self.problems:
                raise RecordingError(f"{self.path} is damaged: its header and every copy of it are unreadable")
            raise RecordingError(f"{self.path} is not a bottlenecktop recording (no header record)")
        notes: list[str] = [self.header_note] if self.header_note else []
        if self.skipped:
            notes.append(f"{self.skipped} damaged record{'s' if self.skipped > 1 else ''} skipped, the first "
                         f"{self.first_skip}")
        if self.missing:
            notes.append(f"{self.missing} record{'s' if self.missing > 1 else ''} missing, the first "
                         f"{self.first_missing}")
        notes.extend(self.problems)
        if cut:
            notes.append(f"truncated {self._where()}: an incomplete last record was skipped")
        unclosed = []
        if not self.closed:
            t = self.frames[-1].t if self.frames else 0.0
            unclosed.append(f"the run ended without closing at {t:.1f} s (tick {len(self.frames)})")
        return Recording(header=self.header, frames=self.frames, verdict=self.verdict,
                         notice="; ".join(notes + unclosed), hists=self.hists, closed=self.closed,
                         path=self.path, problems=notes)


def session_from_recording(rec: Recording) -> Session:
    """The Session a live run would have built: the header, every frame in order, and the verdict."""
    session = Session(rec.header)
    session.frames = list(rec.frames)  # no listeners yet, so the frames go in directly
    session.verdict = rec.verdict
    return session
