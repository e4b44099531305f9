"""Reading a recording back, streamed record by record: every record's seal checked, damage skipped and said,
the header taken from its first intact copy."""

from __future__ import annotations

import gc
import os
import stat
import zlib
from collections.abc import Callable
from pathlib import Path

import msgspec

from bottlenecktop.recording.format import (
    _GZIP_MAGIC,
    _LATEST_START,
    _MAX_LINE,
    _MAX_PENDING,
    _SYNC_MARK,
    HistWindow,
    Recording,
    RecordingError,
    _Kind,
    _seq_of,
    _VerdictRecord,
    _Version,
    unseal,
)
from bottlenecktop.session import SCHEMA_VERSION, Frame, Header, Session, frame_from_legacy
from bottlenecktop.verdict_types import Verdict, verdict_from_json


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
                raw = self.verdict_dec.decode(line).verdict
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
