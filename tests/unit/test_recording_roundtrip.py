"""A recording read back is the session that was written: header, frames, histograms, verdict."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import msgspec
import pytest
from hdrh.histogram import HdrHistogram

from bottlenecktop.analysis.knee import steps_of
from bottlenecktop.recording import (
    SUFFIX,
    RecordingError,
    RecordingWriter,
    default_recording_path,
    read_recording,
    session_from_recording,
)
from bottlenecktop.session import Event, Frame, Session
from bottlenecktop.verdict_types import Bottleneck, Verdict
from tests.support.recording_synth import header, ramp_frames, verdict_for, write_recording


def test_frames_header_and_verdict_come_back(tmp_path: Path) -> None:
    frames = ramp_frames(200.0, with_hist=False)
    verdict = verdict_for(frames)
    path = write_recording(tmp_path / "a.jsonl.gz", frames, verdict)
    rec = read_recording(path)
    assert rec.notice == ""
    assert rec.closed
    assert rec.header == header()
    assert rec.frames == frames  # the synthetic values have few digits: rounding changes none of them
    assert rec.verdict == verdict
    session = session_from_recording(rec)
    assert isinstance(session, Session)
    assert session.snapshot() == frames
    assert steps_of(session.snapshot()) == [f.step for f in frames if f.step is not None]
    assert session.verdict == verdict


def test_second_histograms_are_merged_per_step_and_stay_exact(tmp_path: Path) -> None:
    frames = ramp_frames(100.0, step_s=3)
    path = write_recording(tmp_path / "h.jsonl.gz", frames)
    rec = read_recording(path)
    assert all(f.load is not None and f.load.hist == "" for f in rec.frames)
    assert [f.load.p99_ms for f in rec.frames if f.load] == [f.load.p99_ms for f in frames if f.load]
    steps = sorted({f.load.step for f in frames if f.load})
    assert [h.step for h in rec.hists] == steps
    for window in rec.hists:
        expected = HdrHistogram(1, 60_000_000, 3)
        for f in frames:
            if f.load and f.load.step == window.step:
                expected.decode_and_add(f.load.hist)
        got = HdrHistogram.decode(window.hist)
        assert window.seconds == 3
        assert got.get_total_count() == expected.get_total_count()
        assert got.get_value_at_percentile(99) == expected.get_value_at_percentile(99)


def test_second_hists_true_keeps_them_in_the_frames(tmp_path: Path) -> None:
    frames = ramp_frames(60.0)
    path = tmp_path / "k.jsonl.gz"
    with RecordingWriter(path, header(), second_hists=True) as w:
        for f in frames:
            w.append(f)
    rec = read_recording(path)
    assert rec.hists == []
    assert [f.load.hist for f in rec.frames if f.load] == [f.load.hist for f in frames if f.load]


def test_floats_are_kept_to_six_significant_digits(tmp_path: Path) -> None:
    frame = Frame(t=3599.123456789, events=[Event(kind="node", text="x")])
    frame2 = Frame(t=0.000123456789)
    path = tmp_path / "r.jsonl.gz"
    with RecordingWriter(path, header()) as w:
        w.append(frame)
        w.append(frame2)
    rec = read_recording(path)
    assert rec.frames[0].t == pytest.approx(3599.12, abs=0.006)
    assert rec.frames[1].t == pytest.approx(0.000123457, rel=1e-6)


def test_jq_reads_it_without_bottlenecktop(tmp_path: Path) -> None:
    frames = ramp_frames(100.0, with_hist=False)
    path = write_recording(tmp_path / "j.jsonl.gz", frames, verdict_for(frames))
    out = subprocess.run(
        f"zcat {path} | jq -r 'select(.kind==\"frame\" and .step) | .step.offered_rps'",
        shell=True, capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()
    assert [float(x) for x in out] == [f.step.offered_rps for f in frames if f.step]
    magic = subprocess.run(
        f"zcat {path} | jq -r 'select(.kind==\"verdict\") | .verdict.capacity.max_sustainable_rps'",
        shell=True, capture_output=True, text=True, timeout=30, check=True,
    ).stdout.strip()
    assert float(magic) == frames[-1].outcome.max_sustainable_rps  # type: ignore[union-attr]
    head = subprocess.run(f"zcat {path} | head -1 | jq -c '[.kind, .format, .schema_version]'", shell=True,
                          capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    assert head == '["header","bottlenecktop.recording",1]'


def test_plain_json_lines_are_read_too(tmp_path: Path) -> None:
    frames = ramp_frames(50.0, with_hist=False)
    gz = write_recording(tmp_path / "p.jsonl.gz", frames)
    plain = tmp_path / "p.jsonl"
    subprocess.run(f"zcat {gz} > {plain}", shell=True, check=True, timeout=30)
    rec = read_recording(plain)
    assert rec.frames == frames and rec.notice == ""


def test_default_path_is_new_timestamped_and_under_user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    p1 = default_recording_path(1_700_000_000.0)
    assert p1.name.endswith(SUFFIX) and str(p1).startswith(str(tmp_path))
    w = RecordingWriter(p1, header())  # creates the parent dirs
    w.close()
    assert w.error is None and p1.exists()
    p2 = default_recording_path(1_700_000_000.0)
    assert p2 != p1 and not p2.exists()


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "keep.jsonl.gz", ramp_frames(50.0, with_hist=False))
    before = path.read_bytes()
    w = RecordingWriter(path, header())
    w.append(Frame(t=1.0))
    w.close()
    assert w.error is not None and "already exists" in w.error
    assert path.read_bytes() == before


def test_newer_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    path.write_text(json.dumps({"kind": "header", "schema_version": 99}) + "\n" + '{"kind":"frame","t":1.0}\n')
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    msg = str(info.value)
    assert "newer" in msg and "99" in msg and "\n" not in msg


@pytest.mark.parametrize(("content", "words"), [
    (None, "no such recording"),
    (b"", "empty"),
    (b"hello world\n", "not a bottlenecktop recording"),
    (b'{"kind":"frame","t":1}\n', "no header"),
    (b"\x89PNG\r\n", "not a bottlenecktop recording"),
])
def test_bad_files_say_one_line(tmp_path: Path, content: bytes | None, words: str) -> None:
    path = tmp_path / "bad"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_unknown_record_kinds_from_a_later_minor_version_are_skipped(tmp_path: Path) -> None:
    lines = [{"kind": "header", "schema_version": 1, "host": "h", "future_field": 1},
             {"kind": "frame", "t": 1.0, "future": {"x": 1}}, {"kind": "annotation", "text": "hi"},
             {"kind": "frame", "t": 2.0}]
    path = tmp_path / "f.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    rec = read_recording(path)
    assert [f.t for f in rec.frames] == [1.0, 2.0] and rec.notice == "" and rec.header.host == "h"


def test_a_verdict_that_cannot_be_encoded_is_said_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl.gz"
    with RecordingWriter(path, header()) as w:
        w.append(Frame(t=1.0))
        w.write_verdict(Verdict(bottleneck=Bottleneck(evidence=[object()])))  # type: ignore[list-item]
        w.append(Frame(t=2.0))
    assert w.error is not None and "verdict" in w.error
    assert [f.t for f in read_recording(path).frames] == [1.0, 2.0]


def test_frames_decode_with_the_contract_types(tmp_path: Path) -> None:
    frames = ramp_frames(80.0, with_hist=False)
    path = write_recording(tmp_path / "t.jsonl.gz", frames)
    rec = read_recording(path)
    assert all(isinstance(f, Frame) for f in rec.frames)
    assert msgspec.json.encode(rec.frames) == msgspec.json.encode(frames)
