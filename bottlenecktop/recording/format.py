"""The recording's records: kinds, types, constants, and the per-record seal (sequence number and CRC32).

What a reader accepts is bounded whatever the file holds (a one-hour recording at 1 Hz of realistic frames is
4.7 MB compressed, 16 MB of text in 4,900 lines, benchmarks/recording_size.py; each limit is many times that):

- MAX_FILE_BYTES, 64 MiB of compressed bytes (about 13 such hours), read at most once into memory; a larger
  regular file is refused before a byte is read, a pipe after MAX_FILE_BYTES + 1 bytes;
- MAX_TEXT_BYTES, 256 MiB of inflated text (16 hours), streamed, never held whole: a gzip bomb stops there;
- MAX_LINES, 250,000 lines, blank ones counted (51 hours; at 10 Hz with small frames about 6 hours): a file of
  nothing but newlines stops there; a longer file is refused in one line, not read in part;
- _MAX_LINE, 16 MiB for one line (a real record is under 10 KB): a longer one is skipped as damage;
- _MAX_STRETCHES, 1,000 damaged stretches, and compressed bytes tried at most 4 times over: looking for the next
  gzip member after damage stops there and the rest of the file is said to be damaged;
- with ``finite_only`` (what replay, compare and report use), MAX_MAGNITUDE: a record holding NaN, an infinity,
  a float beyond 1e15 or an integer beyond 2^63 is skipped and said; the recorded verdict is then set aside.
"""

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
MAX_FILE_BYTES = 64 << 20  # compressed bytes read (module docstring: the limits and why)
MAX_TEXT_BYTES = 256 << 20  # inflated text streamed through
MAX_LINES = 250_000  # lines of text, blank ones included
MAX_MAGNITUDE = 1e15  # no float a run records comes near it (1 PB/s, 31 million years): beyond is not a sample
MAX_INT = 1 << 63  # integers are counts and byte sizes: int64 holds every one a run records
_MAX_STRETCHES = 1000  # damaged stretches looked past before the rest of the file is given up on
_RESYNC = _GZIP_MAGIC + b"\x00"  # a member the writer (or gzip.compress) begins: no name, extra or comment
# Digits to "0", "e"/"E" to "e", "+" kept, all else "."; then a number that may be beyond MAX_MAGNITUDE (16
# digits in a row, or a positive exponent) shows as one of _BIG_MARKS. A C-speed scan (a regex costs as much
# as the decoding): only a record that has one is walked value by value.
_BIG_TABLE = bytes(ord("0") if chr(c).isdigit() and c < 128 else ord("e") if c in b"eE" else
                   ord("+") if c == ord("+") else ord(".") for c in range(256))
_BIG_MARKS = (b"0e0", b"0e+", b"0" * 16)


def _big_number(text: bytes) -> bool:
    """Whether ``text`` (a record, without its checksum: hex digits look like exponents) may hold a number
    beyond MAX_MAGNITUDE. False positives only cost a walk."""
    shape = text.translate(_BIG_TABLE)
    return any(mark in shape for mark in _BIG_MARKS)


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


_NON_FINITE_TEXT = frozenset({"nan", "inf", "-inf", "infinity", "-infinity", "+inf", "+infinity"})


def _absurd(obj: Any, strings: bool = False) -> bool:
    """Whether decoded JSON (builtins) holds NaN, an infinity, a float beyond MAX_MAGNITUDE or an integer
    beyond MAX_INT; with ``strings``, also a string that spells NaN or an infinity (how the writer stores one
    in the free-form verdict). Iterative: a deeply nested value cannot overflow the stack."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if strings and isinstance(item, str) and len(item) < 10 and item.lower() in _NON_FINITE_TEXT:
            return True
        if isinstance(item, float):
            if not abs(item) <= MAX_MAGNITUDE:  # NaN fails every comparison
                return True
        elif isinstance(item, int):
            if not -MAX_INT < item < MAX_INT:
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


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
