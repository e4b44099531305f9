"""A target killed, stopped (SIGSTOP) or restarted mid-ramp: events in the timeline, a lower bound, an
inconclusive verdict, and no resource (nor a collapse) blamed on the time it was away. Synthetic timelines for the
analysis, fake probes for the tick loop; the real processes are tests/integration/test_target_lifecycle.py's."""

from __future__ import annotations

import math
import time
from pathlib import Path

from bottlenecktop.analysis.lifecycle import DRAIN_S, away_spans, spans_of, target_changes
from bottlenecktop.analysis.verdict import build_verdict, live_status
from bottlenecktop.probes.samples import ProcSample, TcpSample
from bottlenecktop.recording import RecordingWriter, read_recording
from bottlenecktop.runner import Runner
from bottlenecktop.session import Event, Frame, Header, Session, Target
from bottlenecktop.summary import summary_text
from bottlenecktop.verdict_types import TargetChange
from tests.support.timeline_builder import (
    PID,
    TimelineBuilder,
    exit_event,
    header,
    node,
    proc,
    restart_event,
    resume_event,
    stop_event,
)
from tests.support.verdict_shape import verdict_problems

NEW_PID = 5151


def _good_steps(b: TimelineBuilder) -> None:
    for rate in (100, 150, 225):  # t = 0..15
        b.step(rate, target=proc(cpu=rate / 10), node=node(busy=20))


def _frame_at(b: TimelineBuilder, t: float) -> Frame:
    return next(f for f in b.frames if f.t == t)


def killed(told: bool = True) -> TimelineBuilder:
    """Killed at t=16 during the 338 req/s step; every connection refused after. ``told``: the tick loop saw it
    (else the same numbers from a target that lives and refuses)."""
    b = TimelineBuilder(header(ncpu=4))
    _good_steps(b)
    after = proc(cpu=0, alive=False) if told else proc(cpu=1)
    b.step(338, achieved=0, errors={"refused": 338}, target=after, node=node(busy=10))
    b.step(280, achieved=0, errors={"refused": 280}, target=after, node=node(busy=10), phase="searching")
    b.outcome(225, p99=5, reason="errors", confirmed=False)
    if told:
        _frame_at(b, 16).events = [exit_event("target pid 4242 exited at 16 s")]
    return b


def stopped(told: bool = True) -> TimelineBuilder:
    """SIGSTOPped at t=16 for 10 s: the listen queue full and overflowing meanwhile; the search then confirms a
    lower rate after the resume."""
    b = TimelineBuilder(header(ncpu=4))
    _good_steps(b)
    full = node(busy=5, tcp=TcpSample(listen_overflows=40, accept_queue=129, accept_backlog=128))
    b.step(338, achieved=40, p99=4000, target=proc(cpu=0), node=full)
    b.step(280, achieved=0, p99=6000, target=proc(cpu=0), node=full, phase="searching")
    b.step(250, p99=5, target=proc(cpu=25), node=node(busy=20), phase="searching")
    b.step(250, p99=5, target=proc(cpu=25), node=node(busy=20), phase="confirming")
    b.outcome(250, p99=5, reason="p99")
    if told:
        _frame_at(b, 16).events = [stop_event(t=16)]
        _frame_at(b, 26).events = [resume_event(t=26)]
    return b


def restarted() -> TimelineBuilder:
    """Killed at t=16; a new process (NEW_PID) listens on the port at t=21 and the run follows it."""
    b = TimelineBuilder(header(ncpu=4))
    _good_steps(b)
    b.step(338, achieved=0, errors={"refused": 338}, target=proc(alive=False), node=node(busy=10))
    b.step(280, achieved=100, errors={"refused": 180}, target=proc(pid=NEW_PID, cpu=10), node=node(busy=15),
           phase="searching")
    b.step(250, target=proc(pid=NEW_PID, cpu=25), node=node(busy=20), phase="searching")
    b.step(250, target=proc(pid=NEW_PID, cpu=25), node=node(busy=20), phase="confirming")
    b.outcome(250, p99=5, reason="errors")
    _frame_at(b, 16).events = [exit_event("target pid 4242 exited at 16 s")]
    moved = _frame_at(b, 21)
    moved.target, moved.events = proc(alive=False), [restart_event(NEW_PID, t=21)]
    return b


# -- the timeline's changes and the time they spoil --------------------------------------------------------------
def test_changes_come_from_the_events_in_time_order_with_the_new_pid() -> None:
    b = restarted()
    changes = target_changes(b.header, b.frames)
    assert [(c.kind, c.t, c.pid) for c in changes] == [("exited", 16, PID), ("restarted", 21, NEW_PID)]
    (span,) = spans_of(b.header, b.frames)
    assert (span.t_start, span.t_end, span.restarted) == (15, 21 + DRAIN_S, True)


def test_an_exit_seen_only_in_the_samples_counts_and_a_stop_ended_by_a_kill_stays_open() -> None:
    b = killed()
    _frame_at(b, 16).events = []  # a recording from before the tick loop said so: alive False is enough
    assert [(c.kind, c.t) for c in target_changes(b.header, b.frames)] == [("exited", 16)]
    changes = [TargetChange(kind="stopped", t=10), TargetChange(kind="exited", t=14)]
    (span,) = away_spans(changes, 1.0)
    assert (span.kind, span.t_start, span.t_end, span.seen) == ("exited", 9, math.inf, 10)


# -- the verdict ---------------------------------------------------------------------------------------------------
def test_a_killed_target_is_not_a_collapse_and_the_run_is_inconclusive() -> None:
    # The same seconds from a target that lived would be a collapse: that is what the exit must not become.
    alive = build_verdict(*_parts(killed(told=False)))
    assert alive.overload is not None and alive.overload.behaviour == "collapse"
    assert "inconclusive" not in alive.to_json_dict()

    verdict = build_verdict(*_parts(killed()))
    v = verdict.to_json_dict()
    assert verdict_problems(v) == []
    assert v["inconclusive"] == "target-exited" and v["capacity"]["lower_bound"] is True
    assert v["capacity"]["max_sustainable_rps"] == 225
    assert v["target_changes"] == [{"kind": "exited", "t": 16.0, "pid": PID,
                                    "evidence": "target pid 4242 exited at 16 s"}]
    assert verdict.overload is None and verdict.knee is None and verdict.admission is None
    assert v["bottleneck"]["resource"] == "none"
    assert "the run is inconclusive: the target exited at t=16 s" in v["bottleneck"]["evidence"][0]
    text = summary_text(verdict)
    assert ("This is a lower bound: the target (pid 4242) exited (killed or crashed) at t=16 s, before the ramp "
            "found the target's limit; the run is inconclusive.") in text
    assert "collapse" not in text and "Target exit: target pid 4242 exited at 16 s" in text


def test_a_stopped_targets_full_accept_queue_is_not_the_bottleneck() -> None:
    blamed = build_verdict(*_parts(stopped(told=False)))
    assert blamed.bottleneck.resource == "accept-queue"  # what the stop looked like before it was an event

    verdict = build_verdict(*_parts(stopped()))
    v = verdict.to_json_dict()
    assert verdict_problems(v) == []
    assert v["inconclusive"] == "target-stopped" and v["capacity"]["lower_bound"] is True
    assert v["capacity"]["max_sustainable_rps"] == 250
    assert [(c["kind"], c["t"]) for c in v["target_changes"]] == [("stopped", 16), ("resumed", 26)]
    assert all(f["resource"] != "accept-queue" for f in v["findings"])
    assert v["bottleneck"]["resource"] == "none" and verdict.overload is None
    text = summary_text(verdict)
    assert ("This is a lower bound: the target (pid 4242) was stopped (state T, as by SIGSTOP) at t=16 s until "
            "t=26 s") in text
    assert "Target: pid 4242 was stopped at t=16 s; pid 4242 resumed at t=26 s." in text


def test_a_restarted_target_is_followed_and_the_gap_is_left_out() -> None:
    verdict = build_verdict(*_parts(restarted()))
    v = verdict.to_json_dict()
    assert verdict_problems(v) == []
    assert v["inconclusive"] == "target-restarted" and v["capacity"]["lower_bound"] is True
    assert [(c["kind"], c["pid"]) for c in v["target_changes"]] == [("exited", PID), ("restarted", NEW_PID)]
    assert verdict.overload is None and v["target"]["pid"] == PID
    assert verdict.target_exit is not None and "pid 5151 took its port over at t=21 s" in verdict.target_exit.evidence
    text = summary_text(verdict)
    assert ("This is a lower bound: the target (pid 4242) exited (killed or crashed) at t=16 s, and pid 5151 took "
            "over its port at t=21 s") in text
    assert "Target: pid 4242 exited at t=16 s; pid 5151 took over its port at t=21 s." in text


def test_a_change_after_the_ramp_ended_or_without_a_ramp_is_not_inconclusive() -> None:
    b = TimelineBuilder(header(ncpu=4))
    _good_steps(b)
    b.outcome(225, reason="max-rps")
    b.tick(target=proc(alive=False), node=node(), events=[exit_event("target pid 4242 exited at 16 s")])
    v = build_verdict(b.header, b.frames).to_json_dict()
    assert "inconclusive" not in v and [c["kind"] for c in v["target_changes"]] == ["exited"]
    observe = TimelineBuilder(header(mode="attach"))
    observe.ticks(5, target=proc(cpu=30), node=node())
    observe.tick(target=proc(alive=False), node=node(), events=[exit_event("target pid 4242 exited at 6 s")])
    assert "inconclusive" not in build_verdict(observe.header, observe.frames).to_json_dict()


def test_a_run_where_nothing_happened_has_no_new_fields() -> None:
    b = TimelineBuilder(header(ncpu=4))
    _good_steps(b)
    b.step(338, p99=900, target=proc(cpu=40), node=node(busy=90, psi=40, runq=8))
    b.outcome(225, p99=5, reason="p99")
    v = build_verdict(b.header, b.frames).to_json_dict()
    assert "inconclusive" not in v and "target_changes" not in v and v["capacity"]["lower_bound"] is False


def test_the_replayed_recording_gives_the_same_verdict(tmp_path: Path) -> None:
    for make in (killed, stopped, restarted):
        b = make()
        path = tmp_path / f"{make.__name__}.btrec"
        with RecordingWriter(path, b.header) as writer:
            for frame in b.frames:
                writer.append(frame)
        rec = read_recording(path)
        assert build_verdict(rec.header, rec.frames) == build_verdict(b.header, b.frames), make.__name__


def test_the_live_status_during_a_stop_blames_nothing_and_says_lower_bound() -> None:
    b = stopped()
    during = b.frames[:25]  # t <= 25: stopped since t=16, the stop event older than the recent window
    status = live_status(b.header, during)
    assert all(f.resource != "accept-queue" for f in status.findings) and status.lower_bound
    blamed = live_status(b.header, stopped(told=False).frames[:25])
    assert blamed.leading is not None and blamed.leading.resource == "accept-queue"


def _parts(b: TimelineBuilder) -> tuple[Header, list[Frame]]:
    return b.header, b.frames


# -- the tick loop -------------------------------------------------------------------------------------------------
TICK_S = 0.02


class ScriptedProc:
    """A process probe whose scheduler state follows ``states`` (one per sample, the last one repeats) and that
    is gone after ``alive_for`` samples (None: never)."""

    def __init__(self, pid: int, states: list[str] | None = None, alive_for: int | None = None) -> None:
        self.pid, self.states, self.alive_for = pid, states or ["S"], alive_for
        self.calls = 0
        self.state = ""

    def sample(self) -> ProcSample:
        self.calls += 1
        alive = self.alive_for is None or self.calls <= self.alive_for
        self.state = self.states[min(self.calls, len(self.states)) - 1] if alive else ""
        return ProcSample(pid=self.pid, alive=alive)


def _session(pid: int) -> Session:
    return Session(Header(mode="ramp", interval=TICK_S, target=Target(url="http://127.0.0.1:8000/", pid=pid)))


def _run(runner: Runner) -> None:
    thread = runner.start()
    assert runner.wait(5.0), "the loop did not end"
    thread.join(1.0)


def _events(session: Session) -> list[Event]:
    return [e for f in session.frames for e in f.events]


def test_a_stop_and_its_resume_are_one_event_each() -> None:
    session = _session(7)
    runner = Runner(session, t0=time.monotonic(), interval=TICK_S,
                    target=ScriptedProc(7, ["S", "T", "T", "T", "R", "S", "T", "S"]), max_time=0.25)
    _run(runner)
    kinds = [e.kind for e in _events(session)]
    assert kinds == ["target-stopped", "target-resumed", "target-stopped", "target-resumed"]
    first = next(i for i, f in enumerate(session.frames) if f.events)
    assert first == 1 and session.frames[first].events[0].text.startswith("target pid 7 stopped (state T) at ")


def test_a_target_that_dies_while_stopped_exits_without_a_resume() -> None:
    session = _session(7)
    runner = Runner(session, t0=time.monotonic(), interval=TICK_S, target=ScriptedProc(7, ["S", "T"], alive_for=3),
                    max_time=0.15)
    _run(runner)
    assert [e.kind for e in _events(session)] == ["target-stopped", "target-exit"]


def test_a_new_listener_after_the_exit_is_followed_and_said_once() -> None:
    asked: list[int] = []  # frames seen when the listener was asked
    answers = iter([None, None, 8])
    session = _session(7)
    made: list[int] = []

    def relisten() -> int | None:
        asked.append(len(session.frames))
        return next(answers, 8)

    def attach(pid: int) -> tuple[ScriptedProc, None]:
        made.append(pid)
        return ScriptedProc(pid), None

    runner = Runner(session, t0=time.monotonic(), interval=TICK_S, target=ScriptedProc(7, alive_for=2),
                    attach=attach, relisten=relisten, max_time=0.3)
    _run(runner)
    events = _events(session)
    assert [e.kind for e in events] == ["target-exit", "target-restarted"]
    assert events[1].text.startswith("pid 8 listens on port 8000 at ") and "in place of pid 7" in events[1].text
    assert made == [8] and session.header.target.pid == 7  # the header keeps the pid the run started with
    assert asked[0] == 2 and len(asked) == 3  # never while the target lived, never once it was followed
    moved = next(i for i, f in enumerate(session.frames) if any(e.kind == "target-restarted" for e in f.events))
    assert all(f.target is not None and f.target.pid == 8 and f.target.alive for f in session.frames[moved + 1:])
    assert build_verdict(session.header, session.frames).target_changes == [
        TargetChange(kind="exited", t=session.frames[2].t, pid=7, evidence=events[0].text),
        TargetChange(kind="restarted", t=session.frames[moved].t, pid=8, evidence=events[1].text)]


def test_without_a_url_or_an_attach_factory_nothing_is_looked_up() -> None:
    no_url = Runner(Session(Header(target=Target(pid=7))), t0=0.0, target=ScriptedProc(7), attach=lambda p: (
        ScriptedProc(p), None))
    no_attach = Runner(_session(7), t0=0.0, target=ScriptedProc(7))
    remote = Runner(Session(Header(target=Target(url="http://10.0.0.1:8000/", pid=7, local=False))), t0=0.0,
                    attach=lambda p: (ScriptedProc(p), None))
    assert no_url.relisten is None and no_attach.relisten is None and remote.relisten is None
    local = Runner(_session(7), t0=0.0, attach=lambda p: (ScriptedProc(p), None))
    assert local.relisten is not None
