"""Reading a recording back, streamed record by record: every record's seal checked, damage skipped and said,
the header taken from its first intact copy. Memory and time are bounded whatever the file holds: the limits
(MAX_FILE_BYTES, MAX_TEXT_BYTES, MAX_LINES, MAX_MAGNITUDE, ...) are listed in ``recording/format.py``."""

from __future__ import annotations

import gc
import os
import stat
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from bottlenecktop.probes.printable import printable
from bottlenecktop.recording.format import (
    _GZIP_MAGIC,
    _LATEST_START,
    _MAX_LINE,
    _MAX_PENDING,
    _MAX_STRETCHES,
    _RESYNC,
    _SYNC_MARK,
    MAX_FILE_BYTES,
    MAX_LINES,
    MAX_TEXT_BYTES,
    HistWindow,
    Recording,
    RecordingError,
    _absurd,
    _big_number,
    _Kind,
    _seq_of,
    _VerdictRecord,
    _Version,
    unseal,
)
from bottlenecktop.session import SCHEMA_VERSION, Frame, Header, Session, frame_from_legacy
from bottlenecktop.verdict_types import Verdict, verdict_from_json

_ABSURD = "NaN, an infinity or a number beyond 1e15"  # MAX_MAGNITUDE


def _shown(path: Path) -> str:
    """A path for a message: control characters escaped (a file name may hold any byte but / and NUL)."""
    return printable(str(path))


def _not_a_file(mode: int) -> str:
    """What a path that is neither a regular file nor a pipe is, for a message; "" for those two."""
    if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
        return ""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _file_bytes(path: Path) -> bytes:
    """The file's compressed bytes, at most MAX_FILE_BYTES: a regular file, or a pipe (``<(zcat ...)``, a
    FIFO). Raises RecordingError (one line) for anything else, before opening it when it can tell: a device
    that never ends (/dev/zero) is not read at all."""
    name = _shown(path)
    too_big = (f"{name} is over {MAX_FILE_BYTES >> 20} MiB: larger than any recording bottlenecktop reads "
               f"(an hour at 1 Hz is about 5 MB)")
    try:
        info = os.stat(path)
        if _not_a_file(info.st_mode):
            raise RecordingError(f"{name} is {_not_a_file(info.st_mode)}, not a recording")
        if stat.S_ISREG(info.st_mode) and info.st_size > MAX_FILE_BYTES:
            raise RecordingError(too_big)  # before reading: a sparse file costs nothing to make
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
        with open(fd, "rb") as f:
            info = os.fstat(fd)  # what was opened: the name may point elsewhere by now
            if _not_a_file(info.st_mode):
                raise RecordingError(f"{name} is {_not_a_file(info.st_mode)}, not a recording")
            raw = _read_capped(f, info.st_size if stat.S_ISREG(info.st_mode) else 0)
    except (FileNotFoundError, NotADirectoryError):
        raise RecordingError(f"no such recording: {name}") from None
    except IsADirectoryError:
        raise RecordingError(f"{name} is a directory, not a recording") from None
    except OSError as exc:
        raise RecordingError(f"cannot read {name}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in the name
        raise RecordingError(f"no such recording: {name}") from None
    if len(raw) > MAX_FILE_BYTES:  # a pipe, or a file that grew while read
        raise RecordingError(too_big)
    if not raw:
        raise RecordingError(f"{name} is empty, not a bottlenecktop recording")
    return raw


def _read_capped(f: Any, size_hint: int) -> bytes:
    """Up to MAX_FILE_BYTES + 1 bytes: a regular file in one read of its size, a pipe 1 MiB at a time (a read
    of the whole cap at once would reserve the cap's memory up front)."""
    parts: list[bytes] = []
    total = 0
    want = min(size_hint, MAX_FILE_BYTES) + 1
    while total <= MAX_FILE_BYTES:
        part = f.read(min(want, MAX_FILE_BYTES + 1 - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
        want = 1 << 20
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _inflate_member(raw: bytes, pos: int, out: Callable[[bytes], None]) -> tuple[int, str]:
    """Inflate the gzip member at ``pos`` into ``out``; returns (where it ended, "ok" | "truncated" | "damaged").

    Fed in 4 KiB pieces with a copy of the inflater kept before each piece, so that on damage every byte of
    text before the damage is kept: the piece is replayed up to the first byte that will not inflate, found by
    bisection (a prefix fails to inflate exactly when it holds that byte)."""
    d = zlib.decompressobj(31)
    at = pos
    piece = 4096
    while at < len(raw):
        saved = d.copy()
        chunk = raw[at:at + piece]
        try:
            out(d.decompress(chunk))
        except zlib.error:
            good, bad = 0, len(chunk)  # chunk[:good] inflates, chunk[:bad] does not
            while bad - good > 1:
                mid = (good + bad) // 2
                try:
                    saved.copy().decompress(chunk[:mid])
                    good = mid
                except zlib.error:
                    bad = mid
            out(saved.decompress(chunk[:good]))
            return at + good, "damaged"
        if d.eof:
            return at + len(chunk) - len(d.unused_data), "ok"
        at += len(chunk)
    return at, "truncated"


def _inflate(raw: bytes, lines: _Lines) -> bool:
    """Stream the text of a multi-member gzip file into ``lines``, saying each damaged stretch; returns whether
    the file ends in the middle of a record's bytes. Members begin on record boundaries, so after damage the
    reader picks up again at the next member (the next ``1f 8b 08 00`` that inflates). The search is bounded:
    after _MAX_STRETCHES damaged stretches, or once the bytes tried add up to 4 times the file, the rest of the
    file is given up on (a file of crafted member starts would otherwise cost time quadratic in its size)."""
    pos, size = 0, len(raw)
    tried, stretches = 0, 0
    while pos < size:
        if raw[pos:pos + 3] != _GZIP_MAGIC:
            if size - pos < 3 and _GZIP_MAGIC.startswith(raw[pos:]):
                return True  # the file ends inside a member's first bytes: a cut-off write
            status, end = "damaged", pos
        else:
            before = lines.fed
            end, status = _inflate_member(raw, pos, lines.feed)
            tried += end - pos
            if status == "ok":
                pos = end
                continue
            if status == "truncated" and lines.fed > before:
                # A crash between records leaves a sync flush marker last; anything else is a cut record
                # (its text may not have come out of the inflater at all yet).
                return raw[-4:] != _SYNC_MARK
            if status == "truncated":  # every write holds a whole record: a member that gives none is damaged
                end = pos
        stretches += 1
        if stretches > _MAX_STRETCHES or tried > 4 * size + (1 << 20):
            lines.damaged_bytes(end, to_the_end=True, given_up=True)
            return False
        nxt = raw.find(_RESYNC, max(end, pos + 1))
        lines.damaged_bytes(end, to_the_end=nxt < 0)
        if nxt < 0:
            return False
        pos = nxt
    return False


def read_recording(path: Path, *, finite_only: bool = False) -> Recording:
    """Read a recording up to its last complete record, one record at a time.

    Raises RecordingError (one line) for a missing or unreadable file, a file that is not a recording (or
    whose header and every copy of it are damaged), a file beyond the limits of ``recording/format.py``, or a
    recording from a newer schema. Damage and truncation are not errors: a record whose checksum does not match
    is skipped and ``Recording.notice`` says what was skipped. Plain (uncompressed) JSON Lines in the same
    layout are read too, as are files without checksums (written before they were added).

    ``finite_only``: a record holding NaN, an infinity, a float beyond MAX_MAGNITUDE or an integer beyond
    MAX_INT is skipped and said (a recorded verdict holding one is set aside and ``verdict`` is None), and a
    header holding one is refused: what replay, compare and report read, so that nothing they compute or print
    meets such a value. Without it (the default), a float field that held NaN or an infinity reads back as it.
    """
    path = Path(path)
    # Decoding allocates ~10^6 objects; collector passes over them (and over the caller's heap) would
    # cost more than the decoding, and nothing here makes reference cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        raw = _file_bytes(path)
        lines = _Lines(_Records(path, finite_only))
        plain = raw[:4096].lstrip()[:1] == b"{"
        # A gzip member anywhere (after a damaged first one, whose garbage may even begin with "{"): JSON text
        # never holds the byte 1f (a control character, escaped in strings).
        if raw[:2] == _GZIP_MAGIC[:2] or raw.find(_GZIP_MAGIC) > 0:
            cut = _inflate(raw, lines)
        elif plain:
            for at in range(0, len(raw), 1 << 20):
                lines.feed(raw[at:at + (1 << 20)])
            cut = False
        else:
            raise RecordingError(f"{_shown(path)} is not a bottlenecktop recording (neither gzip nor JSON Lines)")
        return lines.finish(cut)
    finally:
        if was_enabled:
            gc.enable()


class _Lines:
    """Splits streamed text into lines for ``_Records``; a line cut by damage, or absurdly long, is damage.
    Counts the text and its lines, and refuses the file past MAX_TEXT_BYTES or MAX_LINES."""

    def __init__(self, records: _Records) -> None:
        self.records = records
        self.partial = bytearray()  # text after the last newline (a bytearray: appending is not quadratic)
        self.overlong = False  # inside a line longer than _MAX_LINE: dropped up to its newline
        self.fed = 0  # bytes of text so far
        self.lines = 0  # newlines so far

    def feed(self, text: bytes) -> None:
        if not text:
            return
        self.fed += len(text)
        self.lines += text.count(b"\n")  # counted before splitting: a gzip bomb of newlines is never split
        if self.fed > MAX_TEXT_BYTES:
            raise RecordingError(f"{self.records.name} inflates to over {MAX_TEXT_BYTES >> 20} MiB of text: "
                                 "larger than any recording bottlenecktop reads (an hour at 1 Hz is about 16 MB)")
        if self.lines > MAX_LINES:
            raise RecordingError(f"{self.records.name} holds over {MAX_LINES:,} lines: more than any recording "
                                 "bottlenecktop reads (an hour at 1 Hz is about 5,000)")
        nl = text.find(b"\n")
        if nl < 0:
            self._hold(text)
            return
        if self.overlong:
            self.overlong = False
        else:
            self.partial += text[:nl]
            self.records.line(bytes(self.partial))
        self.partial = bytearray()
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
            self.partial, self.overlong = bytearray(), True
            self.records.skip()

    def damaged_bytes(self, at: int, to_the_end: bool, given_up: bool = False) -> None:
        """Compressed bytes at ``at`` would not inflate: the record in progress is lost with them."""
        if given_up:  # said even past the first few problems: it is why the rest of the file was not read
            self.records.problems.append(f"damaged data at byte {at} of the file, too much damage to read further")
        else:
            self.records.problem(f"damaged data at byte {at} of the file" + (", to its end" if to_the_end else ""))
        if self.partial or self.overlong:
            self.records.skip()
        self.partial, self.overlong = bytearray(), False

    def finish(self, cut: bool) -> Recording:
        return self.records.finish(cut or bool(self.partial) or self.overlong)


class _Records:
    """Decodes lines into the Recording as they come: checks each record's checksum and sequence number, takes
    the header from the first intact header or member record, and counts what it had to skip."""

    def __init__(self, path: Path, finite_only: bool = False) -> None:
        self.path = path
        self.name = _shown(path)
        self.finite_only = finite_only
        self.kind_dec = msgspec.json.Decoder(_Kind)
        # strict=False: "NaN", "Infinity" and "-Infinity" strings are read into float fields as those floats.
        # finite_only decodes strictly first (no string becomes a number) and walks what the lax decoder
        # accepts only when the strict one refused, or when the line holds a number token that may be absurd.
        self.frame_dec = msgspec.json.Decoder(Frame, strict=finite_only)
        self.hist_dec = msgspec.json.Decoder(HistWindow, strict=finite_only)
        self.hist_lax = msgspec.json.Decoder(HistWindow, strict=False)
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
        self.text = b""  # the record being decoded, without its checksum
        self.absurd = 0  # (finite_only) records skipped for holding NaN, an infinity or an absurd number
        self.first_absurd = ""
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
                raise RecordingError(f"{self.name}: the header record has a shape this version cannot read") from None
            raise RecordingError(f"{self.name} is not a bottlenecktop recording (unreadable header)") from None
        if not isinstance(version, int) or isinstance(version, bool):
            raise RecordingError(f"{self.name}: the header's schema_version is not a number")
        if version > SCHEMA_VERSION:
            raise RecordingError(
                f"{self.name} was written by a newer bottlenecktop (recording schema {version}; this version reads "
                f"schema {SCHEMA_VERSION} and older): upgrade bottlenecktop to read it"
            )
        if not (0.0 <= header.started_at < _LATEST_START and 0.0 < header.interval < 86400.0):
            raise RecordingError(f"{self.name}: the header's started_at or interval is not a plausible time")
        if self.finite_only and _absurd(msgspec.to_builtins(header)):
            raise RecordingError(f"{self.name}: the header holds {_ABSURD}: not a recording a run wrote")
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
        self.text = body if body is not None else line  # what _finite scans: the record without its checksum
        try:
            kind = self._kind(line)
            if kind == "frame":
                self.frames.append(self._frame(line))
            elif kind == "hist":
                self.hists.append(self._hist(line))
            elif kind == "verdict":
                raw = self.verdict_dec.decode(line).verdict
                if self.finite_only and _absurd(raw, strings=True):
                    self.verdict = None
                    self.problem(f"the recorded verdict holds {_ABSURD}: computed from the frames")
                    return
                self.verdict = verdict_from_json(raw)
                if self.verdict is None and raw is not None:  # intact bytes, a shape no reader can rely on
                    self.problem("the recorded verdict is damaged (a shape this version cannot read): "
                                 "computed from the frames")
            elif kind == "end":
                self.closed = True
            elif kind is None:
                self.skip()
            # header and member: the header is known; other kinds: added by a later version of the same
            # schema, skipped on purpose
        except _Absurd:
            self.absurd += 1
            self.first_absurd = self.first_absurd or self._where()
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            self.skip()

    def _frame(self, line: bytes) -> Frame:
        try:
            return self._finite(self.frame_dec.decode(line), lax=False)
        except msgspec.ValidationError:  # written before events had a kind (rare: most frames have no events),
            return self._finite(frame_from_legacy(line), lax=True)  # or (finite_only) a "NaN" string

    def _hist(self, line: bytes) -> HistWindow:
        try:
            return self._finite(self.hist_dec.decode(line), lax=False)
        except msgspec.ValidationError:
            if not self.finite_only:
                raise
            return self._finite(self.hist_lax.decode(line), lax=True)

    def _finite(self, record: Any, lax: bool) -> Any:
        """``record``, or _Absurd (finite_only) when it holds NaN, an infinity or an absurd magnitude. Walked
        only when it may (a lax decode, or a number token beyond 15 digits): most records are not."""
        if self.finite_only and (lax or _big_number(self.text)) and _absurd(msgspec.to_builtins(record)):
            raise _Absurd()
        return record

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
                raise RecordingError(f"{self.name} is damaged: its header and every copy of it are unreadable")
            raise RecordingError(f"{self.name} is not a bottlenecktop recording (no header record)")
        notes: list[str] = [self.header_note] if self.header_note else []
        if self.skipped:
            notes.append(f"{self.skipped} damaged record{'s' if self.skipped > 1 else ''} skipped, the first "
                         f"{self.first_skip}")
        if self.missing:
            notes.append(f"{self.missing} record{'s' if self.missing > 1 else ''} missing, the first "
                         f"{self.first_missing}")
        if self.absurd:
            notes.append(f"{self.absurd} record{'s' if self.absurd > 1 else ''} holding {_ABSURD} skipped, "
                         f"the first {self.first_absurd}")
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


class _Absurd(Exception):
    """(finite_only) A record holding NaN, an infinity or a magnitude no run records: skipped and counted."""


def session_from_recording(rec: Recording) -> Session:
    """The Session a live run would have built: the header, every frame in order, and the verdict."""
    session = Session(rec.header)
    session.frames = list(rec.frames)  # no listeners yet, so the frames go in directly
    session.verdict = rec.verdict
    return session
