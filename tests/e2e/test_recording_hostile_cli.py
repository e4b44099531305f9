"""Hostile recordings end to end (issue 28, items 4, 7, 9): the real command, in its own process, given a sparse
3 GiB file, a gzip bomb, garbage after a header, NaN in a frame, a directory, /dev/zero, a FIFO and a pipe. One
line on stderr, the right exit status, no traceback, within the timeout, and a peak memory far below the
file's size (measured for that one child with wait4)."""

from __future__ import annotations

import gzip
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgspec
import pytest

from bottlenecktop.recording import RecordingWriter
from tests.support.paths import ROOT
from tests.support.recording_synth import header, ramp_frames, verdict_for, write_recording

_FRAMES = ramp_frames(400.0, seed=3, with_hist=False)
_MEMORY_MB = 150  # a bare replay of a small recording peaks near 30 MB


def _run(*args: str, timeout: float = 30.0, pass_fds: tuple[int, ...] = ()) -> tuple[int, str, str, float, float]:
    """(exit status, stdout, stderr, peak RSS in MB, seconds) of ``python -m bottlenecktop ARGS``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "bottlenecktop", *args], cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, pass_fds=pass_fds)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not every child's
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - t0
        assert seconds < timeout, f"killed after {timeout} s: {args}"
        out.seek(0)
        err.seek(0)
        return (proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                usage.ru_maxrss / 1024, seconds)


def _one_line(err: str) -> str:
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _recording_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.jsonl.gz"
        with RecordingWriter(path, header(), sync_interval_s=None) as w:
            for f in _FRAMES:
                w.append(f)
            w.write_verdict(verdict_for(_FRAMES))
        return path.read_bytes()


def _header_line() -> bytes:
    return gzip.decompress(_recording_bytes()).split(b"\n")[0] + b"\n"


@pytest.mark.parametrize("mode", ["replay", "report", "compare"])
def test_a_sparse_3_gib_file_is_refused_in_one_line_without_reading_it(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "huge.jsonl.gz"
    with open(path, "wb") as f:
        f.write(_recording_bytes())
        f.truncate(3 << 30)
    args = {"replay": ["replay", str(path), "--headless"], "report": ["report", str(path), "--format", "html"],
            "compare": ["compare", str(path), str(path), "--headless"]}[mode]
    code, _, err, rss_mb, _ = _run(*args)
    assert code == 2 and "over 64 MiB" in _one_line(err)
    assert rss_mb < _MEMORY_MB, rss_mb


def test_a_2_mb_gzip_bomb_of_newlines_is_refused_in_bounded_time_and_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.jsonl.gz"
    member = gzip.compress(b"\n" * (16 << 20), 9)
    with open(path, "wb") as f:
        f.write(gzip.compress(_header_line()))
        for _ in range(128):  # 2 GiB of newlines
            f.write(member)
    assert path.stat().st_size < 4 << 20
    code, _, err, rss_mb, seconds = _run("replay", str(path), "--headless", timeout=20)
    assert code == 2 and "lines" in _one_line(err)
    assert rss_mb < _MEMORY_MB and seconds < 10, (rss_mb, seconds)


def test_a_header_then_a_megabyte_of_crafted_garbage_reads_in_seconds(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl.gz"
    # Member starts that claim a file name with no end: each used to be inflated to the end of the file.
    path.write_bytes(gzip.compress(_header_line()) + (b"\x1f\x8b\x08\x08" + b"A" * 4) * (1 << 17))
    code, _, err, rss_mb, seconds = _run("report", str(path), "--format", "md", timeout=20)
    assert code == 0 and "damaged data" in _one_line(err)
    assert seconds < 10 and rss_mb < _MEMORY_MB, (seconds, rss_mb)


def test_nan_in_frames_is_skipped_and_said_for_every_reader(tmp_path: Path) -> None:
    frames = [msgspec.structs.replace(f, outcome=msgspec.structs.replace(f.outcome, max_sustainable_rps=math.nan))
              if f.outcome is not None else
              msgspec.structs.replace(f, t=math.inf) if i == 3 else f for i, f in enumerate(_FRAMES)]
    path = write_recording(tmp_path / "nan.jsonl.gz", frames)
    for args in (["replay", str(path), "--headless"], ["report", str(path), "--format", "html"],
                 ["report", str(path), "--format", "json"], ["report", str(path), "--format", "md"],
                 ["compare", str(path), str(path), "--headless"]):
        code, out, err, _, _ = _run(*args)
        assert code == 0, (args, err)
        assert "Traceback" not in err and "internal error" not in err
        assert all("holding NaN" in line for line in err.strip().splitlines()), err
        assert "NaN" not in out.replace("holding NaN", "") and "Infinity" not in out.replace("an infinity", "")


@pytest.mark.parametrize(("path", "what"), [("/dev/zero", "character device"), ("/", "directory")])
def test_a_device_or_a_directory_is_named_for_what_it_is(path: str, what: str) -> None:
    code, _, err, rss_mb, seconds = _run("replay", path, "--headless", timeout=15)
    assert code == 2 and what in _one_line(err) and "no such file" not in err
    assert rss_mb < _MEMORY_MB and seconds < 10


def test_a_fifo_with_a_writer_and_a_pipe_are_read(tmp_path: Path) -> None:
    data = _recording_bytes()
    fifo = tmp_path / "rec.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(data), daemon=True)
    writer.start()
    code, out, err, _, _ = _run("replay", str(fifo), "--headless", timeout=20)
    writer.join(10)
    assert code == 0 and err == "" and "Magic number" in out
    # replay <(cat rec.jsonl.gz): the shell hands over /dev/fd/N, a pipe.
    r, w = os.pipe()

    def feed() -> None:
        with os.fdopen(w, "wb") as f:
            f.write(data)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        code, out, err, _, _ = _run("replay", f"/dev/fd/{r}", "--headless", timeout=20, pass_fds=(r,))
    finally:
        os.close(r)
    feeder.join(10)
    assert code == 0 and err == "" and "Magic number" in out
