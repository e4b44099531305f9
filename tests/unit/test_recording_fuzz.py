"""Fuzz: whatever bytes the reader is given, it returns frames (with a notice when something was skipped) or
raises RecordingError in one line, in bounded time; the CLI says one line, never a traceback."""

from __future__ import annotations

import gzip
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bottlenecktop.app import cli
from bottlenecktop.recording import RecordingError, RecordingWriter, read_recording, seal
from tests.support.paths import ROOT
from tests.support.recording_synth import header, ramp_frames, verdict_for

_FRAMES = ramp_frames(400.0, seed=3, with_hist=False)
_TIME_LIMIT_S = 2.0  # per read of a file of at most ~10 KB (hypothesis' own deadline is off: the box is shared)


def _recording(ticks: int, close: bool) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.jsonl.gz"
        w = RecordingWriter(path, header(), sync_interval_s=None)
        for i in range(ticks):
            w.append(_FRAMES[i % len(_FRAMES)])
        if close:
            w.write_verdict(verdict_for(_FRAMES))
            w.close()
        data = path.read_bytes()
        w.close()
        return data


_KILLED = _recording(70, close=False)
_CLOSED = _recording(130, close=True)


def _sealed(body: bytes) -> bytes:
    """A record line whose checksum is valid: hostile content that no damage check can catch."""
    return seal(body)


def _deep(depth: int) -> bytes:
    return b'{"kind":"frame","t":1.0,"events":' + b"[" * depth + b"]" * depth + b',"seq":1}'


_WRONG_SHAPES = [
    _sealed(b'{"kind":"frame","t":"soon","seq":1}'),
    _sealed(b'{"kind":"frame","t":1.0,"load":[1,2],"seq":1}'),
    _sealed(b'{"kind":"hist","t_start":{},"seq":1}'),
    _sealed(b'{"kind":"verdict","verdict":[1,2,3],"seq":1}'),
    _sealed(b'{"kind":"end","frames":"many","seq":1}'),
    _sealed(b'[1,2,3]'),
    _sealed(b'"just a string"'),
    _sealed(_deep(100_000)),
    _deep(100_000) + b"\n",
    b'{"kind":"frame","t":1e999}\n',
]
_HEADER_LINE = zlib.decompress(_CLOSED, 31).split(b"\n")[0] + b"\n"
_BAD_HEADERS = [
    _sealed(b'{"kind":"header","schema_version":"one","seq":0}'),
    _sealed(b'{"kind":"header","target":[1],"integrity":"crc32","seq":0}'),
    _sealed(b'{"kind":"header","started_at":1e300,"cpu_count":-5,"integrity":"crc32","seq":0}'),
    _sealed(b'{"kind":"header","started_at":"NaN","interval":0,"integrity":"crc32","seq":0}'),
    b'{"kind":"header","schema_version":true}\n',
    _sealed(b'{"kind":"header","' + b"x" * 1000 + b'":' + b"[" * 100_000 + b"]" * 100_000 + b',"seq":0}'),
]


def _members(data: bytes) -> list[bytes]:
    starts = [i for i in range(len(data)) if data[i:i + 3] == b"\x1f\x8b\x08"]
    return [data[a:b] for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A real recording, damaged the ways files get damaged (and a few ways people damage them)."""
    base = draw(st.sampled_from([_KILLED, _CLOSED]))
    how = draw(st.sampled_from(["flips", "truncate", "splice", "insert", "lines", "header"]))
    data = bytearray(base)
    if how == "flips":
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] ^= 1 << draw(st.integers(0, 7))
    elif how == "truncate":
        data = data[:draw(st.integers(0, len(data)))]
    elif how == "splice":
        parts = _members(bytes(data)) + _members(_KILLED if base is _CLOSED else _CLOSED)
        data = bytearray(b"".join(draw(st.lists(st.sampled_from(parts), min_size=1, max_size=6))))
    elif how == "insert":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=64))
    elif how == "lines":
        extra = b"".join(draw(st.lists(st.sampled_from(_WRONG_SHAPES), min_size=1, max_size=3)))
        text = gzip.decompress(_CLOSED)
        cut = text.find(b"\n", draw(st.integers(0, len(text) - 1))) + 1
        data = bytearray(gzip.compress(text[:cut] + extra + text[cut:]) if draw(st.booleans())
                         else text[:cut] + extra + text[cut:])
    else:
        data = bytearray(gzip.compress(draw(st.sampled_from(_BAD_HEADERS)) + b'{"kind":"frame","t":1}\n'))
    return bytes(data)


_ANY_FILE = st.one_of(
    st.binary(max_size=2048),
    st.binary(max_size=512).map(lambda b: b"\x1f\x8b\x08" + b),
    st.binary(max_size=512).map(lambda b: b"{" + b),
    _mutated(),
)


def _read_and_judge(path: Path) -> None:
    t0 = time.monotonic()
    try:
        rec = read_recording(path)
    except RecordingError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert "\n" not in rec.notice
        if rec.problems:
            assert rec.notice
    assert time.monotonic() - t0 < _TIME_LIMIT_S


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=_ANY_FILE)
def test_the_reader_returns_or_raises_one_line_for_any_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.jsonl.gz"
    path.write_bytes(data)
    _read_and_judge(path)


@pytest.mark.parametrize("line", _WRONG_SHAPES + _BAD_HEADERS, ids=range(len(_WRONG_SHAPES + _BAD_HEADERS)))
def test_each_wrong_shape_is_skipped_or_refused_in_one_line(tmp_path: Path, line: bytes) -> None:
    for text in (_HEADER_LINE + line + b'{"kind":"end","frames":0}\n', line + _HEADER_LINE):
        path = tmp_path / "w.jsonl"
        path.write_bytes(text)
        _read_and_judge(path)


def test_a_record_nested_100000_deep_is_skipped_with_a_notice(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_bytes(_HEADER_LINE + _sealed(_deep(100_000)) + _sealed(b'{"kind":"frame","t":2.0,"seq":2}'))
    rec = read_recording(path)
    assert [f.t for f in rec.frames] == [2.0]
    assert rec.problems == ["1 damaged record skipped, the first after tick 0"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=_ANY_FILE, command=st.sampled_from(["replay", "report"]))
def test_the_cli_on_any_file_says_one_line_never_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, command: str) -> None:
    path = tmp_path / "fuzz.jsonl.gz"
    path.write_bytes(data)
    argv = [command, "--headless", str(path)] if command == "replay" else [command, str(path)]
    status = cli.main(argv)  # an exception other than the ones main turns into a line fails the test here
    err = capsys.readouterr().err
    if status != 0:
        assert len(err.splitlines()) == 1 and err.startswith("bottlenecktop: "), err
    else:
        assert all(line.startswith("bottlenecktop: ") for line in err.splitlines()), err


@pytest.mark.parametrize("command", ["replay", "report"])
@pytest.mark.parametrize("kind", ["garbage", "gzip-garbage", "cut-header", "deep", "bad-header", "far-future"])
def test_the_cli_process_on_a_damaged_file_exits_non_zero_with_one_line(
        tmp_path: Path, command: str, kind: str) -> None:
    content = {
        "garbage": b"\x00\x01 not a recording",
        "gzip-garbage": b"\x1f\x8b\x08" + bytes(range(256)),
        "cut-header": _CLOSED[:40],
        "deep": gzip.compress(_deep(100_000) + b"\n"),
        "bad-header": gzip.compress(_BAD_HEADERS[1]),
        "far-future": gzip.compress(_BAD_HEADERS[2]),
    }[kind]
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(content)
    argv = [command, "--headless", str(path)] if command == "replay" else [command, str(path)]
    out = subprocess.run([sys.executable, "-m", "bottlenecktop", *argv], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert len(out.stderr.splitlines()) == 1 and out.stderr.startswith("bottlenecktop: "), out.stderr
