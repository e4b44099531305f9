"""Every record is checked: a flipped bit is skipped with a notice or changes nothing, never a value silently;
a damaged header does not lose the rest; NaN and inf come back; files from before checksums still read."""

from __future__ import annotations

import math
import os
import stat
import subprocess
import threading
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest

from bottlenecktop.probes.samples import LoadSecond
from bottlenecktop.recording import (
    RECORDS_PER_MEMBER,
    Recording,
    RecordingError,
    RecordingWriter,
    read_recording,
    seal,
    unseal,
)
from bottlenecktop.recording.format import _round_floats
from bottlenecktop.session import Frame
from tests.support.paths import ROOT
from tests.support.recording_synth import header, ramp_frames, verdict_for

V1_FILE = ROOT / "tests/unit/data/recording-v1-before-checksums.jsonl.gz"  # written by the writer of e93c031
_FRAMES = ramp_frames(400.0, seed=3, with_hist=False)
KILLED_TICKS = 2 * (RECORDS_PER_MEMBER - 1) + 8  # three members, the last one open with 8 ticks in it


def _killed_run(path: Path, ticks: int = KILLED_TICKS) -> bytes:
    """The bytes a run killed after ``ticks`` appends leaves (each append's bytes are in the file when it
    returns: not closing is what kill -9 does to the writer)."""
    w = RecordingWriter(path, header(), sync_interval_s=None)
    for i in range(ticks):
        w.append(_FRAMES[i % len(_FRAMES)])
    data = path.read_bytes()
    w.close()
    return data


def _is_subsequence(got: Sequence[object], full: Sequence[object]) -> bool:
    it = iter(full)
    return all(any(g == f for f in it) for g in got)


def _check_flip(data: bytes, intact: Recording, at: int, bit: int, scratch: Path) -> str:
    """Flip one bit and read: 'same' (nothing changed), or 'noticed' (some records skipped, said in
    ``problems``). Fails the test on a changed value or a silent loss."""
    flipped = bytearray(data)
    flipped[at] ^= 1 << bit
    scratch.write_bytes(flipped)
    rec = read_recording(scratch)  # a RecordingError here fails: a later member holds the header's copy
    where = f"bit {bit} of byte {at}: {rec.notice}"
    assert rec.header == intact.header, where
    assert _is_subsequence(rec.frames, intact.frames), "a changed frame was accepted: " + where
    assert _is_subsequence(rec.hists, intact.hists), "a changed hist was accepted: " + where
    assert rec.verdict in (None, intact.verdict), where
    if rec.frames == intact.frames and rec.hists == intact.hists and rec.verdict == intact.verdict:
        return "same"
    assert rec.problems, "records were lost without a notice: " + where
    return "noticed"


@pytest.mark.parametrize("shard", range(3))
def test_every_bit_flip_in_a_killed_runs_last_member_is_skipped_with_a_notice(tmp_path: Path, shard: int) -> None:
    ticks = RECORDS_PER_MEMBER - 1 + 4  # the last member: the header's copy and 4 ticks, no gzip trailer
    data = _killed_run(tmp_path / "killed.jsonl.gz", ticks)
    (tmp_path / "intact.jsonl.gz").write_bytes(data)
    intact = read_recording(tmp_path / "intact.jsonl.gz")
    assert len(intact.frames) == ticks and intact.problems == [] and not intact.closed
    last = data.rfind(b"\x1f\x8b\x08")
    assert last > 0 and data.endswith(b"\x00\x00\xff\xff")  # an open member: no gzip trailer to check
    outcomes = {"same": 0, "noticed": 0}
    for at in range(last + shard, len(data), 3):
        for bit in range(8):
            outcomes[_check_flip(data, intact, at, bit, tmp_path / "flipped.jsonl.gz")] += 1
    # Most flips land in record bytes (the rest in gzip header fields that change nothing): not a vacuous test.
    assert outcomes["noticed"] > 0.5 * sum(outcomes.values()), outcomes


@pytest.mark.parametrize("shard", range(2))
def test_bit_flips_across_a_closed_file_and_its_header_never_change_a_value(tmp_path: Path, shard: int) -> None:
    path = tmp_path / "closed.jsonl.gz"
    with RecordingWriter(path, header(), sync_interval_s=None) as w:
        for f in _FRAMES * 3:
            w.append(f)
        w.write_verdict(verdict_for(_FRAMES))
    data = path.read_bytes()
    intact = read_recording(path)
    assert intact.closed and intact.problems == []
    # Every seventh bit of the first 600 bytes (the header and the first ticks), every 61st bit after that.
    bits = list(range(0, 600 * 8, 7)) + list(range(600 * 8, len(data) * 8, 61))
    outcomes = {"same": 0, "noticed": 0}
    for b in bits[shard::2]:
        outcomes[_check_flip(data, intact, b // 8, b % 8, tmp_path / "flipped.jsonl.gz")] += 1
    assert outcomes["noticed"] > 0.5 * sum(outcomes.values()), outcomes


def test_a_destroyed_header_loses_only_its_member(tmp_path: Path) -> None:
    data = bytearray(_killed_run(tmp_path / "k.jsonl.gz"))
    assert data.find(b"\x1f\x8b\x08", 10) > 600
    data[:600] = bytes(600)
    (tmp_path / "broken.jsonl.gz").write_bytes(data)
    rec = read_recording(tmp_path / "broken.jsonl.gz")
    assert rec.header == header()
    first_kept = RECORDS_PER_MEMBER - 1  # member 0 held the header and 59 ticks
    assert [f.t for f in rec.frames] == [_FRAMES[i % len(_FRAMES)].t for i in range(first_kept, KILLED_TICKS)]
    assert rec.problems[0] == f"the header was damaged; read from its copy in record {RECORDS_PER_MEMBER}"
    assert "damaged data at byte 0" in rec.notice


def test_the_header_and_every_copy_damaged_is_one_line(tmp_path: Path) -> None:
    data = bytearray(_killed_run(tmp_path / "k.jsonl.gz"))
    for member in [0, *[i for i in range(1, len(data)) if data[i:i + 3] == b"\x1f\x8b\x08"]]:
        data[member + 12: member + 40] = bytes(28)
    (tmp_path / "b.jsonl.gz").write_bytes(data)
    with pytest.raises(RecordingError) as info:
        read_recording(tmp_path / "b.jsonl.gz")
    assert "every copy of it" in str(info.value) and "\n" not in str(info.value)


def _plain_lines(path: Path) -> list[bytes]:
    text, raw = b"", path.read_bytes()
    while raw:
        d = zlib.decompressobj(31)
        text += d.decompress(raw)
        raw = d.unused_data
    return text.split(b"\n")


def test_a_repeated_or_moved_record_is_skipped_even_with_a_valid_checksum(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl.gz"
    _killed_run(path, ticks=10)
    lines = _plain_lines(path)
    lines.insert(6, lines[3])  # a whole earlier record again, as a damaged back-reference could make it
    (tmp_path / "r.jsonl").write_bytes(b"\n".join(lines))
    rec = read_recording(tmp_path / "r.jsonl")
    assert [f.t for f in rec.frames] == [f.t for f in _FRAMES[:10]]
    assert rec.problems == ["1 damaged record skipped, the first after tick 5 (t=5.0 s)"]


def test_a_record_without_its_checksum_is_not_accepted(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl.gz"
    _killed_run(path, ticks=5)
    lines = _plain_lines(path)
    body, _ = unseal(lines[2])
    assert body is not None
    lines[2] = body.replace(b'"t":2.0', b'"t":2.5')  # changed and its checksum taken off
    (tmp_path / "u.jsonl").write_bytes(b"\n".join(lines))
    rec = read_recording(tmp_path / "u.jsonl")
    assert [f.t for f in rec.frames] == [1.0, 3.0, 4.0, 5.0] and rec.problems


def test_seal_and_unseal() -> None:
    line = seal(b'{"kind":"frame","t":1.0,"seq":3}')
    assert line.endswith(b'"}\n') and b',"crc32":"' in line
    assert unseal(line[:-1]) == (b'{"kind":"frame","t":1.0,"seq":3}', True)
    assert unseal(line[:-1].replace(b"1.0", b"1.5")) == (None, True)
    assert unseal(b'{"kind":"frame","t":1.0}') == (None, False)


def test_nan_and_infinities_come_back(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl.gz"
    frames = [Frame(t=1.0, load=LoadSecond(t=1.0, p99_ms=math.nan, max_ms=math.inf, lag_p99_ms=-math.inf)),
              Frame(t=2.0, load=LoadSecond(t=2.0, p99_ms=3.0))]
    with RecordingWriter(path, header()) as w:
        for f in frames:
            w.append(f)
    rec = read_recording(path)
    assert rec.problems == [] and len(rec.frames) == 2
    load = rec.frames[0].load
    assert load is not None and math.isnan(load.p99_ms) and load.max_ms == math.inf
    assert load.lag_p99_ms == -math.inf
    assert rec.frames[1] == frames[1]
    out = subprocess.run(f"zcat {path} | jq -c 'select(.kind==\"frame\") | .load | [.p99_ms, .max_ms]'",
                         shell=True, capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.splitlines() == ['["NaN","Infinity"]', "[3,null]"]


def test_a_file_from_before_checksums_reads_as_it_did() -> None:
    rec = read_recording(V1_FILE)
    frames = ramp_frames(5000.0, step_s=10, with_hist=False)
    assert rec.problems == [] and rec.notice == "" and rec.closed
    as_written = [msgspec.convert(_round_floats(msgspec.to_builtins(f)), Frame) for f in frames]
    assert rec.frames == as_written
    # The verdict was written as the dict of its day (no "mode" yet): it decodes into today's Verdict.
    expected = _round_floats(verdict_for(frames))
    assert rec.verdict is not None
    assert (rec.verdict.capacity, rec.verdict.bottleneck, rec.verdict.steps) == \
        (expected.capacity, expected.bottleneck, expected.steps)


def test_a_damaged_record_in_a_file_from_before_checksums_is_still_skipped(tmp_path: Path) -> None:
    lines = _plain_lines(V1_FILE)
    lines[5] = lines[5][:30] + b"\x00" + lines[5][31:]
    (tmp_path / "v1.jsonl").write_bytes(b"\n".join(lines))
    rec = read_recording(tmp_path / "v1.jsonl")
    assert len(rec.frames) == 149 and rec.problems


def test_a_run_that_never_closed_says_where_it_ended(tmp_path: Path) -> None:
    data = _killed_run(tmp_path / "k.jsonl.gz", ticks=7)
    (tmp_path / "copy.jsonl.gz").write_bytes(data)
    rec = read_recording(tmp_path / "copy.jsonl.gz")
    assert rec.notice == f"the run ended without closing at {_FRAMES[6].t:.1f} s (tick 7)"
    assert rec.problems == [] and not rec.closed


def test_the_file_is_synced_on_a_schedule_off_the_tick_and_the_directory_at_create(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced_dirs: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # the real call, counted when it is a directory
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            synced_dirs.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    w = RecordingWriter(tmp_path / "s.jsonl.gz", header(), sync_interval_s=0.05)
    assert synced_dirs == [str(tmp_path)]
    assert w.syncer is not None
    calls: list[str] = []
    real_sync = w.syncer.sync

    def counted(fd: int) -> None:  # the real sync, with the thread it ran on noted
        calls.append(threading.current_thread().name)
        real_sync(fd)

    w.syncer.sync = counted
    deadline = time.monotonic() + 5
    i = 0
    while len(calls) < 3 and time.monotonic() < deadline:  # bytes keep coming: a sync every 0.05 s
        w.append(_FRAMES[i % len(_FRAMES)])
        i += 1
        time.sleep(0.01)
    assert len(calls) >= 3 and set(calls) == {"recording-sync"}
    time.sleep(0.1)  # let a sync of the last bytes happen
    idle = len(calls)
    time.sleep(0.3)  # nothing new: no more syncs
    assert len(calls) == idle
    w.close()
    assert not w.syncer._thread.is_alive() and w.syncer.syncs == len(calls) and w.error is None
