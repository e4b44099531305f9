"""Recordings written before events had a kind and the verdict had a type still read; the verdict's JSON is
the verdict file, field for field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from bottlenecktop.analysis.verdict import build_verdict, verdict_of
from bottlenecktop.recording import read_recording
from bottlenecktop.session import Event
from bottlenecktop.verdict_types import Verdict
from tests.support.timeline_builder import TimelineBuilder, exit_event, header, node, proc
from tests.support.verdict_shape import verdict_problems

VERDICT_KEYS = ["schema", "target", "capacity", "bottleneck", "findings", "steps", "recording", "knee", "overload",
                "cost_per_request", "target_exit", "mode", "duration_s", "window_s"]


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_plain_string_events_read_as_kind_other(tmp_path: Path) -> None:
    path = _write(tmp_path / "old.jsonl", [
        {"kind": "header", "schema_version": 1, "host": "h", "mode": "attach"},
        {"kind": "frame", "t": 1.0, "events": ["py-spy: permission denied"]},
        {"kind": "frame", "t": 2.0},
        {"kind": "frame", "t": 3.0, "target": {"pid": 7, "alive": False}, "events": ["target pid 7 exited at 3 s"]},
    ])
    rec = read_recording(path)
    assert rec.problems == [] and [f.t for f in rec.frames] == [1.0, 2.0, 3.0]
    assert rec.frames[0].events == [Event(kind="other", text="py-spy: permission denied")]
    assert rec.frames[2].events == [Event(kind="other", text="target pid 7 exited at 3 s")]
    # The exit is still found, from the sample that says the target is gone.
    v = verdict_of(rec.header, rec.frames, rec.verdict)
    assert v.target_exit is not None and v.target_exit.t == 3.0


def test_a_verdict_record_from_before_the_types_decodes_to_the_same_verdict(tmp_path: Path) -> None:
    b = TimelineBuilder(header())
    b.step(100, target=proc(cpu=20), node=node())
    b.step(150, achieved=0, errors={"refused": 150}, target=proc(alive=False), node=node(),
           events=[exit_event("target pid 4242 exited")])
    b.outcome(100, p99=5, reason="errors")
    built = build_verdict(b.header, b.frames, goal_rps=500)
    as_dict = json.loads(json.dumps(built.to_json_dict()))  # what the dict-based writer put in the file
    path = _write(tmp_path / "v.jsonl", [{"kind": "header", "schema_version": 1},
                                         {"kind": "verdict", "verdict": as_dict}])
    assert read_recording(path).verdict == built


def test_a_recorded_verdict_that_does_not_fit_is_rebuilt_from_the_frames(tmp_path: Path) -> None:
    path = _write(tmp_path / "odd.jsonl", [
        {"kind": "header", "schema_version": 1, "mode": "observe"},
        {"kind": "frame", "t": 1.0},
        {"kind": "verdict", "verdict": {"bottleneck": {"resource": "gil"}}},  # not in the vocabulary
    ])
    rec = read_recording(path)
    assert rec.verdict is None and len(rec.frames) == 1
    assert verdict_of(rec.header, rec.frames, rec.verdict).bottleneck.resource == "none"


def test_the_verdict_json_has_the_file_fields_and_the_plan_only_with_a_goal() -> None:
    b = TimelineBuilder(header())
    for rate in (100, 150, 225):
        b.step(rate, node=node(busy=10), target=proc(cpu=10))
    b.outcome(225, p99=5, reason="max-rps")
    plain, planned = build_verdict(b.header, b.frames), build_verdict(b.header, b.frames, goal_rps=1000)
    assert list(plain.to_json_dict()) == [*VERDICT_KEYS, "what_if", "admission", "connections"]
    assert list(planned.to_json_dict()) == [*VERDICT_KEYS, "plan", "what_if", "admission", "connections"]
    assert verdict_problems(planned.to_json_dict()) == []
    cost = planned.to_json_dict()["cost_per_request"]
    assert "memory_per_in_flight" not in cost  # not measured (no rise of memory with requests in flight): left out
    assert {"at_rps", "step", "cpu_ms", "cpu_source", "node_cpu_ms", "bytes"} <= set(cost)
    assert msgspec.json.decode(msgspec.json.encode(planned), type=Verdict) == planned
