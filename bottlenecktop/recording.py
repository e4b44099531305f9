"""Recordings: one crash-safe file per session, appended tick by tick, read back into the same Session.

The format (docs/recording-format.md has the long version): gzip-compressed JSON Lines, one record per line,
each record an object whose first key is ``kind``: ``header`` (first), ``frame`` (one per tick), ``hist`` (the
merged latency histogram of a window of a few seconds), ``verdict`` and ``end`` (on a clean close). Every record
is followed by a zlib sync flush, so the bytes on disk always end on a record boundary except while a write is
in flight: ``kill -9`` keeps every complete tick. Every 60 records the gzip member is closed and a new one begun,
so a damaged byte costs at most the rest of its member; ``zcat FILE | jq`` reads the whole thing.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import math
import os
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
_GZIP_MAGIC = b"\x1f\x8b\x08"
_SYNC_MARK = b"\x00\x00\xff\xff"  # how a zlib sync flush ends: the writer's bytes end so after each record


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
    notice: str = ""  # "" when nothing was skipped; else e.g. "truncated after tick 812 (t=812.0 s)"
    hists: list[HistWindow] = []
    closed: bool = False  # the writer closed it cleanly (an ``end`` record is present)
    path: Path | None = None


class _Kind(msgspec.Struct):
    kind: str = ""


class _VerdictRecord(msgspec.Struct):
    verdict: dict[str, Any] | None = None


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
    """Floats to SIGNIFICANT_DIGITS (at least 2 decimals, so session times keep 10 ms); the rest unchanged.

    Measured rates and percentages carry no information past the 6th digit, and the noise digits are what
    compression cannot shrink (benchmarks/recording_size.py: about a third of the file)."""
    if isinstance(obj, float):
        if obj == 0.0 or not math.isfinite(obj):
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


class RecordingWriter:
    """Appends one session to one file, crash-safe. Never raises after construction, nor in it.

    ``second_hists=False`` (default) moves each second's latency histogram into merged ``hist`` records of up
    to HIST_WINDOW_S (one step and phase each): the per-second percentiles stay in every frame, and the file
    is about half the size. Pass True to keep every second's histogram in its frame.
    """

    def __init__(self, path: Path, header: Header, second_hists: bool = False) -> None:
        self.path = Path(path)
        self.error: str | None = None
        self.frames_written = 0
        self._second_hists = second_hists
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._comp: Any = None  # zlib compressobj of the open gzip member
        self._member_records = 0
        self._good_size = 0  # bytes on disk that end on a complete record
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
        head = msgspec.to_builtins(_safe_header(header))
        # Header omits fields at their defaults, schema_version among them: always state it in the file.
        self._put({"kind": "header", "format": FORMAT, **head, "schema_version": header.schema_version})

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
        try:
            line = self._enc.encode(_round_floats(record)) + b"\n"
        except (TypeError, ValueError, msgspec.EncodeError) as exc:  # a verdict with an odd value: skip it
            self._say(f"recording {self.path}: a {record.get('kind')} record could not be encoded: {exc}")
            return
        if self._comp is None:
            self._comp = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip member
            self._member_records = 0
        data = self._comp.compress(line)
        self._member_records += 1
        if finish or self._member_records >= RECORDS_PER_MEMBER:
            data += self._comp.flush(zlib.Z_FINISH)
            self._comp = None
        else:
            data += self._comp.flush(zlib.Z_SYNC_FLUSH)
        self._write_all(data)

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


def _inflate_member(raw: bytes, pos: int, out: bytearray) -> tuple[int, str]:
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
            out += d.decompress(chunk)
        except zlib.error:
            for i in range(len(chunk)):
                try:
                    out += saved.decompress(chunk[i:i + 1])
                except zlib.error:
                    return at + i, "damaged"
            return at + len(chunk), "damaged"
        if d.eof:
            return at + len(chunk) - len(d.unused_data), "ok"
        at += len(chunk)
    return at, "truncated"


def _inflate(raw: bytes) -> tuple[list[bytes], list[str], bool]:
    """The text of a multi-member gzip file as runs of undamaged data (a damaged stretch ends a run), a
    description of each damaged stretch, and whether the file ends in the middle of a record's bytes.
    Members begin on record boundaries, so after damage the reader picks up again at the next member."""
    runs: list[bytes] = []
    problems: list[str] = []
    cur = bytearray()
    pos = 0
    while pos < len(raw):
        if not raw.startswith(_GZIP_MAGIC, pos):
            if _GZIP_MAGIC.startswith(raw[pos:]):
                runs.append(bytes(cur))
                return runs, problems, True  # the file ends inside a member's first bytes: a cut-off write
            status, end = "damaged", pos
        else:
            end, status = _inflate_member(raw, pos, cur)
            if status == "ok":
                pos = end
                continue
            if status == "truncated":
                # A crash between records leaves a sync flush marker last; anything else is a cut record
                # (its text may not have come out of the inflater at all yet).
                runs.append(bytes(cur))
                return runs, problems, not raw.endswith(_SYNC_MARK)
        nxt = raw.find(_GZIP_MAGIC, max(end, pos + 1))
        problems.append(f"damaged data at byte {end} of the file" + ("" if nxt > 0 else ", to its end"))
        runs.append(bytes(cur))
        cur = bytearray()
        if nxt < 0:
            return runs, problems, False
        pos = nxt
    runs.append(bytes(cur))
    return runs, problems, False


def read_recording(path: Path) -> Recording:
    """Read a recording up to its last complete record.

    Raises RecordingError (one line) for a missing or unreadable file, a file that is not a recording, or a
    recording from a newer schema. Truncation and damage are not errors: ``Recording.notice`` says what was
    skipped. Plain (uncompressed) JSON Lines in the same layout are read too.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RecordingError(f"no such recording: {path}") from None
    except IsADirectoryError:
        raise RecordingError(f"{path} is a directory, not a recording") from None
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not raw:
        raise RecordingError(f"{path} is empty, not a bottlenecktop recording")
    if raw.startswith(_GZIP_MAGIC[:2]):
        runs, problems, cut = _inflate(raw)
    elif raw.lstrip()[:1] == b"{":
        runs, problems, cut = [raw], [], False
    else:
        raise RecordingError(f"{path} is not a bottlenecktop recording (neither gzip nor JSON Lines)")
    # Decoding allocates ~10^6 objects; collector passes over them (and over the caller's heap) would
    # cost more than the decoding, and nothing here makes reference cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse(path, runs, problems, cut)
    finally:
        if was_enabled:
            gc.enable()


def _parse(path: Path, runs: list[bytes], problems: list[str], cut: bool) -> Recording:
    kind_dec = msgspec.json.Decoder(_Kind)
    frame_dec = msgspec.json.Decoder(Frame)
    hist_dec = msgspec.json.Decoder(HistWindow)
    verdict_dec = msgspec.json.Decoder(_VerdictRecord)
    header: Header | None = None
    frames: list[Frame] = []
    hists: list[HistWindow] = []
    verdict: Verdict | None = None
    closed = False
    damaged = 0
    first_damage = ""
    tail = b""
    offset = 0  # byte offset of the current line in the decompressed data
    for run_i, run in enumerate(runs):
        lines = run.split(b"\n")
        tail = lines.pop()  # text after the last newline: an incomplete record (or b"")
        if tail and run_i < len(runs) - 1:
            damaged += 1  # a record cut by a damaged stretch
            first_damage = first_damage or f"damaged record after tick {len(frames)}"
        for line in lines:
            start = offset
            offset += len(line) + 1
            if not line.strip():
                continue
            try:
                # The writer puts "kind" first: a prefix test spares a second parse of most lines.
                kind = "frame" if line.startswith(b'{"kind":"frame"') else kind_dec.decode(line).kind
                if header is None:
                    if kind != "header":
                        raise RecordingError(f"{path} is not a bottlenecktop recording (no header record)")
                    header = _decode_header(path, line)
                elif kind == "frame":
                    frames.append(_decode_frame(frame_dec, line))
                elif kind == "hist":
                    hists.append(hist_dec.decode(line))
                elif kind == "verdict":
                    verdict = verdict_from_json(verdict_dec.decode(line).verdict)
                elif kind == "end":
                    closed = True
                # other kinds: added by a later version of the same schema; skipped on purpose
            except (msgspec.DecodeError, msgspec.ValidationError):
                if header is None:
                    raise RecordingError(f"{path} is not a bottlenecktop recording (unreadable header)") from None
                damaged += 1
                first_damage = first_damage or f"damaged record at byte {start} after tick {len(frames)}"
        offset += len(tail)
    if header is None:
        raise RecordingError(f"{path} is not a bottlenecktop recording (no complete header)")
    notes: list[str] = []
    if first_damage:
        notes.append(first_damage + (f" ({damaged} records skipped)" if damaged > 1 else " (skipped)"))
    notes.extend(problems)
    if tail or cut:
        last_t = f" (t={frames[-1].t:.1f} s)" if frames else ""
        notes.append(f"truncated after tick {len(frames)}{last_t}: an incomplete last record was skipped")
    return Recording(header=header, frames=frames, verdict=verdict, notice="; ".join(notes), hists=hists,
                     closed=closed, path=path)


def _decode_frame(decoder: msgspec.json.Decoder[Frame], line: bytes) -> Frame:
    try:
        return decoder.decode(line)
    except msgspec.ValidationError:  # written before events had a kind (rare: most frames have no events)
        return frame_from_legacy(line)


def _decode_header(path: Path, line: bytes) -> Header:
    version = msgspec.json.decode(line, type=dict[str, Any]).get("schema_version", 1)
    if not isinstance(version, int):
        raise RecordingError(f"{path}: the header's schema_version is not a number")
    if version > SCHEMA_VERSION:
        raise RecordingError(
            f"{path} was written by a newer bottlenecktop (recording schema {version}; this version reads "
            f"schema {SCHEMA_VERSION} and older): upgrade bottlenecktop to read it"
        )
    return msgspec.json.decode(line, type=Header)


def session_from_recording(rec: Recording) -> Session:
    """The Session a live run would have built: the header, every frame in order, and the verdict."""
    session = Session(rec.header)
    session.frames = list(rec.frames)  # no listeners yet, so the frames go in directly
    session.verdict = rec.verdict
    return session
