"""What a crash, a cut, a damaged byte, an unwritable path or a full disk leave: everything complete before it."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest

from bottlenecktop.recording import RecordingWriter, read_recording
from bottlenecktop.session import Frame
from bottlenecktop.verdict_types import Verdict
from tests.support.paths import ROOT
from tests.support.recording_synth import header, ramp_frames, write_recording

_WRITER_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from bottlenecktop.recording import RecordingWriter
    from tests.support.recording_synth import header, ramp_frames
    frames = ramp_frames(400.0, seed=3)
    w = RecordingWriter(Path(sys.argv[1]), header())
    for i in range(100000):
        w.append(frames[i % len(frames)])
        print(i + 1, flush=True)
        time.sleep(0.005)
""")


def test_kill_9_mid_run_keeps_every_complete_tick(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl.gz"
    env = dict(os.environ)
    child = subprocess.Popen([sys.executable, "-c", _WRITER_CHILD, str(path)], stdout=subprocess.PIPE,
                             text=True, env=env, cwd=ROOT)
    try:
        assert child.stdout is not None
        acknowledged = 0
        deadline = time.monotonic() + 30
        while acknowledged < 150 and time.monotonic() < deadline:  # past two gzip members (60 records each)
            line = child.stdout.readline()
            if not line:
                break
            acknowledged = int(line)
        assert acknowledged >= 150, "the writer child did not get going"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    rec = read_recording(path)
    assert not rec.closed
    # Every append that returned is on disk; at most the one in flight when the signal came is extra.
    assert acknowledged <= len(rec.frames) <= acknowledged + 1
    frames = ramp_frames(400.0, seed=3)
    expected_t = [frames[i % len(frames)].t for i in range(len(rec.frames))]
    assert [f.t for f in rec.frames] == expected_t
    assert rec.problems in ([], [f"truncated after tick {len(rec.frames)} (t={rec.frames[-1].t:.1f} s): "
                                 "an incomplete last record was skipped"]), rec.problems
    assert rec.notice.endswith(f"the run ended without closing at {rec.frames[-1].t:.1f} s (tick {len(rec.frames)})")


def _cut_points_of_last_record(path: Path) -> tuple[bytes, int]:
    """The file, and the offset where its last record's bytes begin (written by one os.write)."""
    data = path.read_bytes()
    return data, data.rfind(b"\x00\x00\xff\xff", 0, len(data) - 4) + 4


def test_truncation_at_every_byte_of_the_last_record(tmp_path: Path) -> None:
    frames = ramp_frames(100.0, with_hist=False)
    path = tmp_path / "cut.jsonl.gz"
    w = RecordingWriter(path, header())
    for f in frames:
        w.append(f)
    # Not closed: this is the state a crash leaves, the last record ending with a sync flush.
    data, start = _cut_points_of_last_record(path)
    assert 0 < start < len(data)
    cut_path = tmp_path / "cut-copy.jsonl.gz"
    for cut in range(start, len(data) + 1):
        cut_path.write_bytes(data[:cut])
        rec = read_recording(cut_path)
        assert rec.frames == frames[: len(rec.frames)]
        assert len(rec.frames) in (len(frames) - 1, len(frames))
        if len(rec.frames) < len(frames) and cut > start:
            assert rec.notice.startswith(f"truncated after tick {len(frames) - 1}"), (cut, rec.notice)
    w.close()


def test_truncation_at_every_byte_of_a_plain_json_lines_file(tmp_path: Path) -> None:
    frames = ramp_frames(40.0, with_hist=False)
    gz = write_recording(tmp_path / "p.jsonl.gz", frames)
    text = zlib.decompress(gz.read_bytes(), 31)
    body = text[: text.rfind(b'{"kind":"end"')]  # as if killed before the end record
    start = body.rfind(b"\n", 0, len(body) - 1) + 1
    cut_path = tmp_path / "p.jsonl"
    for cut in range(start, len(body) + 1):
        cut_path.write_bytes(body[:cut])
        rec = read_recording(cut_path)
        complete = cut == len(body)
        assert len(rec.frames) == len(frames) - (0 if complete else 1)
        assert (rec.problems == []) == (complete or cut == start), (cut, rec.notice)
        assert "the run ended without closing" in rec.notice


def test_a_damaged_record_in_the_middle_of_plain_lines_is_skipped_with_a_notice(tmp_path: Path) -> None:
    frames = ramp_frames(60.0, with_hist=False)
    gz = write_recording(tmp_path / "d.jsonl.gz", frames)
    lines = zlib.decompress(gz.read_bytes(), 31).split(b"\n")
    lines[5] = lines[5][:40] + b"\x00garbage" + lines[5][60:]
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\n".join(lines))
    rec = read_recording(path)
    assert rec.problems == ["1 damaged record skipped, the first after tick 4 (t=4.0 s)"], rec.problems
    assert [f.t for f in rec.frames] == [f.t for i, f in enumerate(frames) if i != 4]  # line 5 is frame 4


def test_damaged_compressed_bytes_in_the_middle_keep_the_rest(tmp_path: Path) -> None:
    frames = ramp_frames(5000.0, step_s=10, with_hist=False)  # > 2 gzip members
    assert len(frames) > 130
    path = write_recording(tmp_path / "z.jsonl.gz", frames)
    data = bytearray(path.read_bytes())
    second_member = data.find(b"\x1f\x8b\x08", 10)
    third_member = data.find(b"\x1f\x8b\x08", second_member + 10)
    middle = (second_member + third_member) // 2
    data[middle: middle + 8] = b"\xff" * 8
    broken = tmp_path / "z-broken.jsonl.gz"
    broken.write_bytes(bytes(data))
    rec = read_recording(broken)
    assert "damaged" in rec.notice
    got = [f.t for f in rec.frames]
    # Everything before the damaged member, some of it, and everything after it.
    assert got[:59] == [f.t for f in frames[:59]]
    assert got[-(len(frames) - 119):] == [f.t for f in frames[119:]]
    assert len(got) < len(frames)
    assert rec.closed


def test_an_unwritable_path_is_said_once_and_nothing_raises(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: permissions do not stop writes; the file-as-directory case covers it")
        w = RecordingWriter(locked / "x.jsonl.gz", header())
        assert w.error is not None and "cannot create" in w.error
        first = w.error
        for f in ramp_frames(30.0, with_hist=False):
            w.append(f)
        w.write_verdict(Verdict())
        w.close()
        assert w.error == first
    finally:
        locked.chmod(0o700)


def test_a_parent_that_is_a_file_is_said_once(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    w = RecordingWriter(tmp_path / "afile" / "x.jsonl.gz", header())
    assert w.error is not None and "cannot create" in w.error
    w.append(Frame(t=1.0))
    w.close()
    w.close()


_FSIZE_CHILD = textwrap.dedent("""
    import resource, signal, sys
    from pathlib import Path
    from bottlenecktop.recording import RecordingWriter
    from tests.support.recording_synth import header, ramp_frames
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # then a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
    frames = ramp_frames(400.0, seed=3)
    w = RecordingWriter(Path(sys.argv[1]), header())
    for i in range(2000):
        w.append(frames[i % len(frames)])
    w.close()
    print(w.frames_written)
    print(w.error)
""")


def test_a_real_file_size_limit_keeps_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "limited.jsonl.gz"
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", _FSIZE_CHILD, str(path)], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    written, error = out.stdout.splitlines()
    assert "cannot write" in error and "recording stopped" not in error and "too large" in error.lower()
    assert path.stat().st_size <= 20000
    rec = read_recording(path)
    assert len(rec.frames) == int(written) > 0
    assert rec.problems == []  # the half-written record was cut off
    assert "the run ended without closing" in rec.notice  # the writer stopped before its end record


class _FullDisk:
    """os.write that takes ``room`` bytes, then writes part of a buffer and fails with ENOSPC, like a disk
    filling mid-record. (ENOSPC cannot be caused for real without a small mount, which needs root.)"""

    def __init__(self, room: int) -> None:
        self.room = room
        self.calls_after_full = 0

    def __call__(self, fd: int, data: bytes | memoryview) -> int:
        if self.room <= 0:
            self.calls_after_full += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = min(len(data), self.room)
        self.room -= n
        return os.write(fd, bytes(data[:n]))


def test_a_full_disk_is_said_once_and_keeps_every_complete_tick(tmp_path: Path) -> None:
    frames = ramp_frames(5000.0, step_s=10, with_hist=False)
    path = tmp_path / "full.jsonl.gz"
    w = RecordingWriter(path, header())
    full = _FullDisk(room=path.stat().st_size + 1500)  # a few dozen synthetic ticks
    w._write = full
    for f in frames:
        w.append(f)
    w.write_verdict(Verdict())
    w.close()
    assert w.error is not None and "No space left on device" in w.error
    assert full.calls_after_full == 1  # it stopped writing after the first failure
    assert 0 < w.frames_written < len(frames)
    rec = read_recording(path)
    assert rec.frames == frames[: w.frames_written]
    assert rec.problems == [] and "the run ended without closing" in rec.notice


def test_a_path_under_proc_is_unwritable_even_for_root() -> None:
    w = RecordingWriter(Path("/proc/bottlenecktop-no-such-dir/x.jsonl.gz"), header())
    assert w.error is not None and "cannot create" in w.error
    w.append(Frame(t=1.0))
    w.close()
    assert "\n" not in w.error
