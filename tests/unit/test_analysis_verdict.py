"""The verdict over whole synthetic runs: schema shape, magic number, knee, overload, cost, plan, summary."""

from __future__ import annotations

import json

import pytest

from bottlenecktop.analysis.knee import find_knee
from bottlenecktop.analysis.verdict import build_verdict, judging_window, live_status
from bottlenecktop.probes.samples import StepResult
from bottlenecktop.summary import progress_line, summary_text
from bottlenecktop.verdict_types import Verdict
from tests.support.timeline_builder import PID, TimelineBuilder, driver, exit_event, header, node, proc, stacks
from tests.support.verdict_shape import verdict_problems

GIL = stacks([(f"Thread-{k}", 20, {}, "") for k in range(12)], gil=95,
             functions=[("render_page (app.py:88)", 80, 92)])


def gil_run(goal: float | None = None) -> Verdict:
    """A GIL-bound target on 4 cores: one core pinned from 168 req/s on, the ramp fails at 378 req/s."""
    b = TimelineBuilder(header(ncpu=4))
    for rate, p99 in [(50, 3.0), (75, 3.1), (112, 3.4), (168, 4.0), (252, 30.0)]:
        cpu = min(99.0, rate / 2.55)
        b.step(rate, p99=p99, node=node(busy=8 + cpu / 4, ncpu=4), driver=driver(cpu=15),
               target=proc(cpu=cpu, threads=[("MainThread", cpu), ("Thread-2", 1)]), stacks=GIL)
    b.step(378, achieved=258, p99=900, node=node(busy=33, ncpu=4), driver=driver(cpu=20),
           target=proc(cpu=99, threads=[("MainThread", 99), ("Thread-2", 1)]), stacks=GIL)
    b.step(290, achieved=258, p99=700, phase="searching", node=node(busy=33, ncpu=4), driver=driver(cpu=18),
           target=proc(cpu=99, threads=[("MainThread", 99)]), stacks=GIL)
    b.step(252, p99=28, phase="confirming", seconds=10, node=node(busy=33, ncpu=4), driver=driver(cpu=15),
           target=proc(cpu=99, threads=[("MainThread", 99)]), stacks=GIL)
    b.outcome(252, p99=28.0, reason="p99")
    return build_verdict(b.header, b.frames, recording="/tmp/run.btrec", goal_rps=goal)


def test_verdict_has_the_schema_shape_and_survives_json() -> None:
    v = gil_run(goal=1000).to_json_dict()
    assert verdict_problems(v) == []
    assert json.loads(json.dumps(v)) == v
    assert v["target"] == {"url": "http://127.0.0.1:8000/", "pid": PID}
    assert v["recording"] == "/tmp/run.btrec"
    assert [s["offered_rps"] for s in v["steps"]] == [50, 75, 112, 168, 252, 378, 290, 252]


def test_the_shape_checker_catches_a_broken_verdict() -> None:
    v = gil_run().to_json_dict()
    v["bottleneck"]["resource"] = "gil"
    v["capacity"]["slo"] = {"p99_ms": "500"}
    del v["steps"][0]["p99_ms"]
    problems = verdict_problems(v)
    assert "bottleneck.resource 'gil' is not in the vocabulary" in problems
    assert "capacity.slo.p99_ms has type str" in problems and "capacity.slo.error_rate missing" in problems
    assert "steps[0].p99_ms missing" in problems


def test_gil_run_verdict() -> None:
    v = gil_run(goal=1000).to_json_dict()
    cap, neck = v["capacity"], v["bottleneck"]
    assert cap["max_sustainable_rps"] == 252 and cap["confirmed"] and not cap["lower_bound"]
    assert cap["p99_ms_at_max"] == 28 and cap["slo"] == {"p99_ms": 500.0, "error_rate": 0.01}
    assert neck["resource"] == "cpu-thread" and neck["scope"] == f"pid {PID} thread MainThread"
    assert neck["confidence"] >= 0.8
    assert "95 % of samples hold the GIL in render_page (app.py:88)" in neck["evidence"]
    assert v["knee"]["achieved_rps"] == 168
    assert v["overload"]["behaviour"] == "queue"
    cost = v["cost_per_request"]
    assert cost["at_rps"] == 168 and abs(cost["cpu_ms"] - 65.9 * 10 / 168) < 0.01
    assert cost["bytes"] == 1000 and "load driver" in cost["correction"]
    plan = v["plan"]
    assert plan["machines"] == 6 and plan["per_machine_rps"] == 176.4 and not plan["goal_met"]
    assert plan["dominant_resource"] == "cpu-thread"


def test_magic_number_without_an_outcome_is_the_best_sustained_step() -> None:
    b = TimelineBuilder(header())
    b.step(100, p99=5)
    b.step(150, p99=8, errors={"http_5xx": 1})  # 0.66 % errors: still within the 1 % SLO
    b.step(225, p99=700)
    verdict = build_verdict(b.header, b.frames)
    v = verdict.to_json_dict()
    cap = v["capacity"]
    assert cap["max_sustainable_rps"] == 150 and not cap["confirmed"] and cap["ramp_end_reason"] == "p99"
    assert cap["error_rate_at_max"] == round(1 / 151, 4)


def test_knee_ignores_noise_at_low_rates() -> None:
    b = TimelineBuilder(header())
    steps = [b.step(r, p99=p) for r, p in [(10, 0.4), (15, 0.9), (22, 0.6), (33, 0.7), (50, 0.8)]]
    assert find_knee(steps) is None  # 0.4 -> 0.9 ms doubles, but by half a millisecond
    steps.append(b.step(75, p99=9.0))
    knee = find_knee(steps)
    assert knee is not None and knee.offered_rps == 50


def test_overload_shed_and_collapse() -> None:
    shed = TimelineBuilder(header())
    shed.step(100, p50=2, p99=5)
    shed.step(200, p50=3, p99=8)
    shed.step(300, achieved=200, p50=3, p99=12, errors={"http_5xx": 100})
    shed.outcome(200, p99=8, reason="errors")
    assert build_verdict(shed.header, shed.frames).to_json_dict()["overload"]["behaviour"] == "shed"

    collapse = TimelineBuilder(header())
    collapse.step(100, p50=2, p99=5)
    collapse.step(200, p50=3, p99=8)
    collapse.step(300, achieved=60, p50=2500, p99=5000, errors={"timeout": 80})
    collapse.outcome(200, p99=8, reason="p99")
    over = build_verdict(collapse.header, collapse.frames).to_json_dict()["overload"]
    assert over["behaviour"] == "collapse" and over["goodput_past_knee"][0]["achieved_rps"] == 60
    assert "goodput fell to 60 req/s (30 % of the peak 200)" in over["evidence"]


def test_driver_limited_outcome_makes_the_driver_the_bottleneck_and_a_lower_bound() -> None:
    b = TimelineBuilder(header(ncpu=4))
    b.step(1000, node=node(busy=40, ncpu=4), driver=driver(cpu=80), target=proc(cpu=60), driver_cpu=80)
    b.step(1500, achieved=1300, node=node(busy=45, ncpu=4), driver=driver(cpu=99), target=proc(cpu=70),
           driver_cpu=99, late=200, sustained=False, reason="driver")
    b.outcome(1000, p99=5, reason="driver", driver_limited=True)
    verdict = build_verdict(b.header, b.frames, goal_rps=500)
    v = verdict.to_json_dict()
    assert v["bottleneck"]["resource"] == "load-driver" and v["bottleneck"]["scope"] == "driver pid 99"
    assert v["capacity"]["driver_limited"] and v["capacity"]["lower_bound"]
    assert v["plan"]["goal_met"] and "upper bound on machines" in v["plan"]["note"]
    assert "lower bound" in summary_text(verdict)


def test_nothing_saturated_within_the_cap_is_none_and_a_lower_bound() -> None:
    b = TimelineBuilder(header())
    for rate in (100, 150, 225):
        b.step(rate, node=node(busy=10), target=proc(cpu=10))
    b.outcome(225, p99=5, reason="max-rps")
    verdict = build_verdict(b.header, b.frames)
    v = verdict.to_json_dict()
    assert v["bottleneck"]["resource"] == "none" and v["capacity"]["lower_bound"]
    assert "ended (max-rps) before the target showed a limit" in v["bottleneck"]["evidence"][0]
    assert verdict_problems(v) == []


def test_only_warnings_name_a_bottleneck_when_the_ramp_hit_a_limit() -> None:
    b = TimelineBuilder(header(ncpu=4))
    b.step(100, node=node(busy=50, ncpu=4))
    b.step(150, p99=800, node=node(busy=82, ncpu=4, psi=3, runq=3))
    b.step(120, p99=600, node=node(busy=80, ncpu=4, psi=3, runq=3), phase="searching")
    verdict = build_verdict(b.header, b.frames)
    v = verdict.to_json_dict()
    assert v["bottleneck"]["resource"] == "cpu" and v["bottleneck"]["confidence"] <= 0.5


def test_exiting_target_verdict() -> None:
    b = TimelineBuilder(header())
    b.step(100, target=proc(cpu=20), node=node())
    b.step(150, achieved=0, errors={"refused": 150}, target=proc(alive=False), node=node(),
           events=[exit_event("target pid 4242 exited")])
    b.outcome(100, p99=5, reason="errors")
    verdict = build_verdict(b.header, b.frames)
    v = verdict.to_json_dict()
    assert v["target_exit"]["t"] == 6 and v["bottleneck"]["resource"] != "target-exit"
    assert v["findings"][0]["resource"] == "target-exit"
    assert verdict_problems(v) == []
    assert "Target exit: target pid 4242 exited at t=6 s" in summary_text(verdict)


def test_empty_and_hollow_timelines_give_a_valid_verdict() -> None:
    for frames in ([], TimelineBuilder(header()).ticks(40).frames):
        verdict = build_verdict(header(), frames, goal_rps=100)
        v = verdict.to_json_dict()
        assert verdict_problems(v) == []
        assert v["bottleneck"]["resource"] == "none" and v["capacity"]["max_sustainable_rps"] is None
        assert v["plan"]["machines"] is None
        assert "Magic number: none measured" in summary_text(verdict)
    assert build_verdict(header(), []).bottleneck.confidence == 0.0


def test_summary_reads_well() -> None:
    text = summary_text(gil_run(goal=1000))
    lines = text.splitlines()
    assert lines[0] == ("Magic number: 252 req/s within the SLO (p99 <= 500 ms, errors <= 1 %), confirmed; "
                        "p99 28.0 ms, errors 0 % there.")
    assert lines[1] == "Bottleneck: cpu-thread (pid 4242 thread MainThread), confidence 0.98"
    assert any(line.startswith("Knee: 168 req/s") for line in lines)
    assert any(line.startswith("Plan for 1,000 req/s: 6 machine(s)") for line in lines)
    assert lines[-1] == "Recording: /tmp/run.btrec"


def test_progress_line_and_live_status() -> None:
    b = TimelineBuilder(header(ncpu=4))
    b.step(100, node=node(busy=30, ncpu=4), target=proc(cpu=99, threads=[("MainThread", 99)]))
    step = b.step(150, p99=620, node=node(busy=30, ncpu=4), target=proc(cpu=99, threads=[("MainThread", 99)]))
    status = live_status(b.header, b.frames)
    assert status.magic_rps == 100 and status.phase == "ramping" and status.offered_rps == 150
    assert status.leading is not None and status.leading.resource == "cpu-thread"
    line = progress_line(step, status.leading)
    assert line.startswith("step  1 ramping    offered     150 req/s  achieved     150 req/s  p99    620 ms")
    assert line.endswith("NOT sustained (p99) | cpu-thread saturated (pid 4242 thread MainThread)")
    b.outcome(100, p99=5)
    assert live_status(b.header, b.frames).phase == "done"
    assert live_status(header(mode="observe"), []).phase == "observing"


@pytest.mark.parametrize(("step_s", "window"), [(2.003, 4.0), (3.0, 5.0), (1.0, 3.0), (1.5, 3.0), (10.0, 5.0)])
def test_the_judging_window_follows_short_ramp_steps(step_s: float, window: float) -> None:
    steps = [StepResult(step=i, phase="ramping", t_start=i * step_s, t_end=(i + 1) * step_s, offered_rps=10.0 * (i + 1),
                        achieved_rps=10.0 * (i + 1)) for i in range(5)]
    assert judging_window(steps) == window
    assert judging_window([]) == 5.0
