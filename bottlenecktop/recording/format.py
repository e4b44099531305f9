"""The recording's records: kinds, types, constants, and the per-record seal (sequence number and CRC32)."""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Any

import msgspec

from bottlenecktop.session import Frame, Header
from bottlenecktop.verdict_types import Verdict

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
