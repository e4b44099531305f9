"""Hostile recordings (issue 28, items 4, 7 and 9): files that lie about their size, gzip bombs, garbage after a
header, NaN, infinities and absurd magnitudes, paths that are not files, and a link planted where the next
recording goes. The reader stays within bounded memory and time and says what was wrong in one line; nothing
that replay, compare or report compute or print ever meets a non-finite or absurd number."""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import math
import os
import re
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from bottlenecktop.app.cli import main
from bottlenecktop.recording import (
    RECORDS_PER_MEMBER,
    Recording,
    RecordingError,
    RecordingWriter,
    default_recording_path,
    read_recording,
    seal,
)
from bottlenecktop.recording.format import MAX_FILE_BYTES, MAX_LINES, MAX_TEXT_BYTES
from bottlenecktop.session import Frame
from tests.support.recording_synth import header, ramp_frames, verdict_for, write_recording

_FRAMES = ramp_frames(400.0, seed=3, with_hist=False)
_FAST_S = 2.0  # what reading any of these files may take (a real one-hour recording opens in 0.3 s)


def run_main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


def _timed_read(path: Path, **kw: bool) -> tuple[float, Callable[[], Recording]]:
    """Read ``path``; returns (seconds, a callable that returns the Recording or raises its RecordingError)."""
    t0 = time.monotonic()
    try:
        rec = read_recording(path, **kw)
    except RecordingError as exc:
        caught = exc

        def again() -> Recording:
            raise caught
        return time.monotonic() - t0, again
    return time.monotonic() - t0, lambda: rec


def _header_line() -> bytes:
    return gzip.decompress(write_recording_bytes(_FRAMES[:1])).split(b"\n")[0] + b"\n"


def write_recording_bytes(frames: list[Frame], close: bool = True) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.jsonl.gz"
        w = RecordingWriter(path, header(), sync_interval_s=None)
        for f in frames:
            w.append(f)
        if close:
            if frames[-1].outcome is not None:
                w.write_verdict(verdict_for(frames))
            w.close()
        data = path.read_bytes()
        w.close()
        return data


# Item 4: sizes ---------------------------------------------------------------------------------------------


def test_a_sparse_huge_file_is_refused_before_a_byte_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl.gz"
    with open(path, "wb") as f:
        f.write(write_recording_bytes(_FRAMES[:3]))
        f.truncate(3 << 30)  # 3 GiB, sparse: costs the disk nothing
    tracemalloc.start()
    seconds, result = _timed_read(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with pytest.raises(RecordingError, match="over 64 MiB"):
        result()
    assert seconds < _FAST_S and peak < 1 << 20  # nothing of it was read
    code, _, err = run_main("replay", str(path), "--headless")
    assert code == 2 and "over 64 MiB" in _one_line(err)


def _newline_bomb(path: Path, gib: int = 2) -> None:
    """A header, then ``gib`` GiB of newlines in about 2 MB: 16 MiB compressed once, its member repeated."""
    member = gzip.compress(b"\n" * (16 << 20), 9)
    with open(path, "wb") as f:
        f.write(gzip.compress(_header_line()))
        for _ in range(gib * 64):
            f.write(member)


def test_a_gzip_bomb_of_newlines_is_refused_in_bounded_time_and_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.jsonl.gz"
    _newline_bomb(path)
    assert path.stat().st_size < 4 << 20
    tracemalloc.start()
    seconds, result = _timed_read(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with pytest.raises(RecordingError, match=f"over {MAX_LINES:,} lines"):
        result()
    assert seconds < _FAST_S, seconds
    assert peak < 64 << 20, peak  # the file's 2 MB, one inflated piece, the lines counted: never the 2 GiB
    code, _, err = run_main("report", str(path))
    assert code == 2 and "lines" in _one_line(err)


@pytest.mark.slow
def test_a_gzip_bomb_without_newlines_stops_at_the_text_limit(tmp_path: Path) -> None:
    path = tmp_path / "bomb.jsonl.gz"
    member = gzip.compress(b"x" * (16 << 20), 9)
    with open(path, "wb") as f:
        f.write(gzip.compress(_header_line()))
        for _ in range(MAX_TEXT_BYTES // (16 << 20) + 4):
            f.write(member)
    tracemalloc.start()
    seconds, result = _timed_read(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with pytest.raises(RecordingError, match="MiB of text"):
        result()
    assert seconds < 10.0 and peak < 96 << 20, (seconds, peak)


def test_a_pipe_is_read_up_to_the_file_limit_and_no_further(tmp_path: Path) -> None:
    r, w = os.pipe()

    def feed() -> None:
        with contextlib.suppress(BrokenPipeError), os.fdopen(w, "wb") as f:
            chunk = b"\0" * (1 << 20)
            for _ in range((MAX_FILE_BYTES >> 20) + 8):
                f.write(chunk)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        seconds, result = _timed_read(Path(f"/dev/fd/{r}"))
    finally:
        os.close(r)
    writer.join(10)
    with pytest.raises(RecordingError, match="over 64 MiB"):
        result()
    assert seconds < 5.0


@pytest.mark.parametrize("shape", ["plain", "gzip then raw", "inside gzip", "member starts with a name",
                                   "bare member starts", "empty stored blocks", "one long line"])
def test_a_header_then_a_megabyte_of_garbage_reads_fast(tmp_path: Path, shape: str) -> None:
    head = _header_line()
    rnd = os.urandom(1 << 20)
    start = b"\x1f\x8b\x08\x00\0\0\0\0\0\x03"  # a gzip member header as the writer writes it
    data = {
        "plain": head + rnd,
        "gzip then raw": gzip.compress(head) + rnd,
        "inside gzip": gzip.compress(head + rnd),
        # Each candidate member claims a file name that never ends (no NUL): inflating it reads to the end.
        "member starts with a name": gzip.compress(head) + (b"\x1f\x8b\x08\x08" + b"A" * 4) * (1 << 17),
        "bare member starts": gzip.compress(head) + (start + b"\x07") * (1 << 16),
        # A member start followed by nothing but empty stored blocks: valid deflate that never yields text.
        "empty stored blocks": gzip.compress(head) + (start + b"\x00\x00\x00\xff\xff" * 10) * (1 << 14),
        "one long line": gzip.compress(head + b"x" * (1 << 20) + b"\n" + b"y" * (20 << 20)),
    }[shape]
    path = tmp_path / "g.jsonl.gz"
    path.write_bytes(data)
    seconds, result = _timed_read(path)
    assert seconds < _FAST_S, seconds
    rec = result()
    assert rec.notice and "\n" not in rec.notice  # the header read, the rest said
    code, _, err = run_main("replay", str(path), "--headless")
    assert code == 0 and _one_line(err)


def test_a_destroyed_first_member_and_garbage_lose_only_that_member(tmp_path: Path) -> None:
    frames = ramp_frames(400.0, seed=3, with_hist=False, step_s=30)
    assert len(frames) > 2 * RECORDS_PER_MEMBER
    data = write_recording_bytes(frames)
    second = data.find(b"\x1f\x8b\x08\x00", 10)
    path = tmp_path / "d.jsonl.gz"
    garbage = b"{" + os.urandom(1 << 20)  # (even when it looks like the start of plain JSON Lines)
    path.write_bytes(garbage + data[second:])  # the header's member replaced by 1 MB of garbage
    seconds, result = _timed_read(path)
    rec = result()
    assert seconds < _FAST_S
    assert len(rec.frames) >= len(frames) - RECORDS_PER_MEMBER
    assert "the header was damaged; read from its copy" in rec.notice


# Item 7: non-finite and absurd numbers ---------------------------------------------------------------------


def _replace(frame: Frame, **kw: float) -> Frame:
    load = frame.load
    return msgspec.structs.replace(frame, load=msgspec.structs.replace(load, **kw)) if load is not None else frame


_BAD_FRAMES: dict[str, Callable[[Frame, int], Frame]] = {
    "t NaN": lambda f, i: msgspec.structs.replace(f, t=math.nan) if i == 5 else f,
    "t Infinity": lambda f, i: msgspec.structs.replace(f, t=math.inf) if i == 5 else f,
    "load NaN": lambda f, i: _replace(f, offered_rps=math.nan, achieved_rps=math.nan, p50_ms=math.nan),
    "load -Infinity": lambda f, i: _replace(f, p99_ms=-math.inf),
    "load 1e308": lambda f, i: _replace(f, offered_rps=1e308, achieved_rps=1e308),
    "outcome NaN": lambda f, i: msgspec.structs.replace(f, outcome=msgspec.structs.replace(
        f.outcome, max_sustainable_rps=math.nan)) if f.outcome is not None else f,
    "outcome 1e308": lambda f, i: msgspec.structs.replace(f, outcome=msgspec.structs.replace(
        f.outcome, max_sustainable_rps=1e308)) if f.outcome is not None else f,
}
_ABSURD_OUT = re.compile(r"\b(nan|inf|infinity)\b|\d{30,}", re.IGNORECASE)
_MODES = {
    "replay": lambda p: ["replay", str(p), "--headless"],
    "report md": lambda p: ["report", str(p), "--format", "md"],
    "report json": lambda p: ["report", str(p), "--format", "json"],
    "report html": lambda p: ["report", str(p), "--format", "html"],
    "compare": lambda p: ["compare", str(p), str(p), "--headless"],
}


@pytest.mark.parametrize("case", sorted(_BAD_FRAMES))
def test_a_frame_holding_nan_inf_or_an_absurd_number_is_skipped_and_said(tmp_path: Path, case: str) -> None:
    frames = [_BAD_FRAMES[case](f, i) for i, f in enumerate(_FRAMES)]
    bad = sum(1 for a, b in zip(frames, _FRAMES, strict=True) if a != b)
    path = write_recording(tmp_path / "r.jsonl.gz", frames)
    rec = read_recording(path, finite_only=True)
    assert len(rec.frames) == len(frames) - bad
    assert f"{bad} record{'s' if bad > 1 else ''} holding NaN, an infinity or a number beyond 1e15 skipped" \
        in rec.notice
    for f in rec.frames:
        assert not _has_absurd(msgspec.to_builtins(f)), f
    for mode, argv in _MODES.items():
        code, out, err = run_main(*argv(path))
        assert code == 0, (mode, err)
        assert "holding NaN" in err and "internal error" not in err and "Traceback" not in err, (mode, err)
        assert len(err.strip().splitlines()) == (2 if mode == "compare" else 1), (mode, err)
        assert not _ABSURD_OUT.search(out.replace("NaN, an infinity", "")), (mode, _ABSURD_OUT.search(out))


def _has_absurd(obj: object) -> bool:
    if isinstance(obj, float):
        return not abs(obj) <= 1e15
    if isinstance(obj, dict):
        return any(_has_absurd(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_has_absurd(v) for v in obj)
    return False


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", 1e308, -1e300, 10**30])
def test_a_recorded_verdict_holding_one_is_set_aside_and_built_from_the_frames(tmp_path: Path,
                                                                               value: object) -> None:
    from tests.support.recording_synth import write_recording_raw_verdict

    verdict = msgspec.to_builtins(verdict_for(_FRAMES))
    verdict["capacity"]["max_sustainable_rps"] = value
    path = write_recording_raw_verdict(tmp_path / "r.jsonl.gz", _FRAMES, verdict)
    rec = read_recording(path, finite_only=True)
    assert rec.verdict is None and len(rec.frames) == len(_FRAMES)
    assert "the recorded verdict holds NaN, an infinity or a number beyond 1e15" in rec.notice \
        or "recorded verdict is damaged" in rec.notice
    for mode, argv in _MODES.items():
        code, out, err = run_main(*argv(path))
        assert code == 0 and "recorded verdict" in err, (mode, err)
        assert "internal error" not in err and "Traceback" not in err
        shown = out.replace("NaN, an infinity", "")
        assert not _ABSURD_OUT.search(shown), (mode, _ABSURD_OUT.search(shown))


def test_without_finite_only_a_float_field_that_held_nan_still_reads_back(tmp_path: Path) -> None:
    frames = [_BAD_FRAMES["load NaN"](f, i) for i, f in enumerate(_FRAMES)]
    path = write_recording(tmp_path / "r.jsonl.gz", frames)
    rec = read_recording(path)
    assert len(rec.frames) == len(frames) and rec.notice == ""


def _sealed_file(path: Path, *bodies: bytes) -> Path:
    path.write_bytes(gzip.compress(b"".join(seal(b) for b in bodies)))
    return path


@pytest.mark.parametrize("slo", [b'"NaN"', b'"Infinity"', b"1e308", b"123456789012345678901234567890"])
def test_a_header_holding_one_is_refused_in_one_line(tmp_path: Path, slo: bytes) -> None:
    head = (b'{"kind":"header","format":"bottlenecktop.recording","mode":"ramp","started_at":1700000000.0,'
            b'"slo":{"p99_ms":' + slo + b'},"schema_version":1,"integrity":"crc32","seq":0}')
    path = _sealed_file(tmp_path / "h.jsonl.gz", head, b'{"kind":"frame","t":1.0,"seq":1}')
    with pytest.raises(RecordingError, match="header holds NaN"):
        read_recording(path, finite_only=True)
    code, _, err = run_main("report", str(path), "--format", "html")
    assert code == 2 and "header holds" in _one_line(err)


def test_a_big_integer_in_a_frame_is_skipped(tmp_path: Path) -> None:
    head = _header_line().rstrip(b"\n")
    body = head[:head.rfind(b',"crc32"')] + b"}"
    path = _sealed_file(tmp_path / "i.jsonl.gz", body, b'{"kind":"frame","t":1.0,"seq":1}',
                        b'{"kind":"frame","t":2.0,"load":{"t":2.0,"sent":99999999999999999999},"seq":2}',
                        b'{"kind":"frame","t":3.0,"load":{"t":3.0,"sent":9000000000000000000},"seq":3}')
    rec = read_recording(path, finite_only=True)
    assert [f.t for f in rec.frames] == [1.0, 3.0]  # 9e18 < 2^63: a count a run can hold
    assert "1 record holding" in rec.notice


# Item 9: paths ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "what"), [
    (lambda tmp: tmp, "is a directory, not a recording"),
    (lambda tmp: Path("/dev/zero"), "is a character device, not a recording"),
    (lambda tmp: Path("/dev/null"), "is a character device, not a recording"),
])
@pytest.mark.parametrize("mode", ["replay", "report", "compare"])
def test_a_path_that_is_not_a_file_is_named_for_what_it_is(tmp_path: Path, make: Callable[[Path], Path],
                                                          what: str, mode: str) -> None:
    path = make(tmp_path)
    t0 = time.monotonic()
    argv = [mode, str(path)] + ([str(path)] if mode == "compare" else []) + (
        ["--headless"] if mode != "report" else [])
    code, _, err = run_main(*argv)
    assert code == 2 and what in _one_line(err) and "no such file" not in err
    with pytest.raises(RecordingError, match=what.replace(", not a recording", "")):
        read_recording(path)  # the reader refuses it too, without reading it
    assert time.monotonic() - t0 < _FAST_S


def _write_in_thread(target: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_fifo_with_a_writer_is_read(tmp_path: Path) -> None:
    data = write_recording_bytes(_FRAMES)
    fifo = tmp_path / "rec.fifo"
    os.mkfifo(fifo)
    writer = _write_in_thread(lambda: fifo.write_bytes(data))
    code, out, err = run_main("replay", str(fifo), "--headless")
    writer.join(10)
    assert code == 0 and err == "" and "Magic number" in out


def test_a_pipe_as_dev_fd_is_read(tmp_path: Path) -> None:
    """``replay <(cat rec.jsonl.gz)``: the shell passes /dev/fd/N, a pipe."""
    data = write_recording_bytes(_FRAMES)
    r, w = os.pipe()

    def feed() -> None:
        with os.fdopen(w, "wb") as f:
            f.write(data)

    writer = _write_in_thread(feed)
    try:
        code, out, err = run_main("replay", f"/dev/fd/{r}", "--headless")
    finally:
        os.close(r)
    writer.join(10)
    assert code == 0 and err == "" and "Magic number" in out


def test_a_missing_file_is_still_no_such_file(tmp_path: Path) -> None:
    code, _, err = run_main("replay", str(tmp_path / "nope.jsonl.gz"), "--headless")
    assert code == 2 and "no such file" in _one_line(err)


def test_a_path_and_a_notice_with_control_characters_are_shown_escaped(tmp_path: Path) -> None:
    path = tmp_path / "evil\x1b[2J\x07.jsonl.gz"
    data = write_recording_bytes(_FRAMES, close=False)
    path.write_bytes(data)
    code, _, err = run_main("replay", str(path), "--headless")
    assert code == 0 and "\x1b" not in err and "\x07" not in err and "\\x1b[2J\\x07" in _one_line(err)
    path.write_bytes(b"garbage\n")
    code, _, err = run_main("report", str(path))
    assert code == 2 and "\x1b" not in err and "\\x1b" in _one_line(err)
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    assert "\x1b" not in str(info.value) and "\\x1b" in str(info.value)


def test_an_unprintable_argument_in_any_error_line_is_escaped(tmp_path: Path) -> None:
    code, _, err = run_main("replay", str(tmp_path / "\x1b]0;title\x07"), "--headless")
    assert code == 2 and "\x1b" not in err and "\x07" not in err and "no such file" in _one_line(err)


# The writer ------------------------------------------------------------------------------------------------


def test_a_dangling_link_under_the_default_name_is_never_written_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_path", lambda *a, **k: tmp_path / "data")
    now = 1_700_000_000.0
    first = default_recording_path(now)
    first.parent.mkdir(parents=True)
    victim = tmp_path / "elsewhere" / "victim"
    victim.parent.mkdir()
    first.symlink_to(victim)  # dangling: exists() says False
    chosen = default_recording_path(now)
    assert chosen != first and chosen.name.endswith(f"-2{first.suffixes[-2]}{first.suffixes[-1]}")
    with RecordingWriter(chosen, header(), sync_interval_s=None) as w:
        w.append(_FRAMES[0])
    assert w.error is None and chosen.is_file() and not chosen.is_symlink()
    assert not victim.exists()
    # Given the link itself (a caller that picked the name before it was planted): one line, nothing written.
    w2 = RecordingWriter(first, header(), sync_interval_s=None)
    w2.append(_FRAMES[0])
    w2.close()
    assert w2.error is not None and "symbolic link" in w2.error and "\n" not in w2.error
    assert not victim.exists()


def test_a_full_disk_says_recording_stopped_once(tmp_path: Path) -> None:
    w = RecordingWriter(tmp_path / "r.jsonl.gz", header(), sync_interval_s=None)
    w.append(_FRAMES[0])

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    w._write = full
    w.append(_FRAMES[1])
    w.close()
    assert w.error is not None
    said = f"recording stopped: {w.error}"  # how app/live.py says it
    assert said.count("recording stopped") == 1, said
    assert "No space left on device" in said and "1 ticks kept" in said


def test_limits_are_what_the_docs_say() -> None:
    assert (MAX_FILE_BYTES, MAX_TEXT_BYTES, MAX_LINES) == (64 << 20, 256 << 20, 250_000)
    text = (Path(__file__).resolve().parents[2] / "docs" / "recording-format.md").read_text()
    assert "64 MiB" in text and "256 MiB" in text and "250,000" in text and "1e15" in text


def test_zlib_member_start_is_what_resync_looks_for() -> None:
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    assert (comp.compress(b"x") + comp.flush())[:4] == b"\x1f\x8b\x08\x00"
    assert gzip.compress(b"x")[:4] == b"\x1f\x8b\x08\x00"
