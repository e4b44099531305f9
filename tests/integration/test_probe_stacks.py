"""StackProbe (real py-spy) on real children: the hot function, lock and socket waits, failures."""

from __future__ import annotations

import subprocess
import time

import psutil
import pytest

from bottlenecktop.analysis.flame import FlameNode, flame_tree
from bottlenecktop.probes.stack_classify import Tally, classify, parse_raw_line
from bottlenecktop.probes.stacks import StackProbe, explain_failure, py_spy_binary
from tests.support.probe_children import BURN_ONE_THREAD, WAITERS, child

pytestmark = pytest.mark.skipif(py_spy_binary() is None, reason="py-spy is not installed")


def _no_py_spy_children() -> bool:
    return not [c for c in psutil.Process().children(recursive=True) if "py-spy" in c.name()]


def test_hot_function_has_the_largest_own_share() -> None:
    with child(BURN_ONE_THREAD, seconds=6.0) as (proc, _):
        t0 = time.monotonic()
        probe = StackProbe(proc.pid, rate_hz=50, t0=t0)
        probe.start()
        try:
            assert probe.error is None
            time.sleep(1.5)
            window = probe.take_window(time.monotonic() - t0)
        finally:
            probe.stop()
    assert window is not None and window.samples > 10
    assert window.functions[0].name.startswith("hot_loop_for_test ("), window.functions
    assert window.functions[0].own_pct > 80.0
    assert 0.0 <= window.t_start < window.t_end
    assert window.spy_cpu_pct > 0.0
    assert _no_py_spy_children()


def test_lock_and_socket_waits_are_classified() -> None:
    with child(WAITERS, seconds=8.0) as (proc, _):
        probe = StackProbe(proc.pid, rate_hz=50, dump_every=0.5)
        probe.start()
        try:
            time.sleep(1.5)
            first = probe.take_window(1.5)
            time.sleep(1.0)
            second = probe.take_window(2.5)  # windows follow one another
        finally:
            probe.stop()
            probe.stop()  # idempotent
    assert first is not None and second is not None
    assert second.t_start == 1.5
    by_name = {t.name: t for t in first.threads}
    assert by_name["lock-waiter"].waits.get("lock", 0) > 90.0, by_name["lock-waiter"]
    assert by_name["lock-waiter"].top_wait.startswith("wait_on_lock (")
    assert by_name["socket-waiter"].waits.get("socket", 0) > 90.0, by_name["socket-waiter"]
    assert by_name["MainThread"].running_pct > 90.0
    assert first.gil_pct is not None and by_name["lock-waiter"].gil_pct == 0.0
    # The flame graph's stacks: the lock waiter's under wait_on_lock in the lock state, the spinner's running.
    tree = flame_tree([first])
    states = {name: node.state for name, node in _walk(tree)}
    assert any(name.startswith("wait_on_lock (") for name in states), sorted(states)
    assert next(s for name, s in states.items() if name.startswith("wait_on_lock (")) == "lock"
    assert tree.states["running"] > 0 and tree.count <= first.samples
    assert _no_py_spy_children()


def _walk(node: FlameNode) -> list[tuple[str, FlameNode]]:
    out = []
    for child_node in node.children.values():
        out += [(child_node.name, child_node), *_walk(child_node)]
    return out


def test_not_python_target_turns_stacks_off() -> None:
    proc = subprocess.Popen(["sleep", "10"])
    try:
        probe = StackProbe(proc.pid)
        probe.start()
        assert probe.error == f"pid {proc.pid} is not a Python process: stacks are off"
        assert probe.take_window(1.0) is None
        probe.stop()
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert _no_py_spy_children()


def test_target_exit_sets_error_and_ends_py_spy() -> None:
    with child(BURN_ONE_THREAD, seconds=1.0) as (proc, _):
        probe = StackProbe(proc.pid, rate_hz=50)
        probe.start()
        proc.wait(timeout=10)
        time.sleep(0.3)
        window = probe.take_window(2.0)  # the samples taken before the exit are kept
        assert probe.error == f"pid {proc.pid} exited: stacks are off"
        assert window is None or window.samples > 0
        assert probe.take_window(3.0) is None
        probe.stop()
    assert _no_py_spy_children()


def test_permission_message_says_how_to_grant() -> None:
    # py-spy's own words when ptrace is refused (a fault this root test machine cannot cause for real)
    stderr = ("Error: Failed to get process executable name. Check that the process is running.\n\n"
              "Caused by:\n    0: Permission denied (os error 13)\n")
    line = explain_failure(42, stderr)
    assert "\n" not in line and "permission denied" in line
    assert "root" in line and "kernel.yama.ptrace_scope=0" in line and "SYS_PTRACE" in line


@pytest.mark.parametrize(("frames", "kind"), [
    # a pool waiting for work, or a thread waiting for a signal, is idle ("select"), not lock contention
    ([("Queue.get", "/usr/lib/python3.11/queue.py", 171), ("Condition.wait", "/x/threading.py", 320)], "select"),
    ([("Event.wait", "/usr/lib/python3.11/threading.py", 622)], "select"),
    ([("_worker", "/usr/lib/python3.11/concurrent/futures/thread.py", 81),
      ("Queue.get", "/usr/lib/python3.11/queue.py", 171)], "select"),
    ([("handle", "/app/server.py", 40), ("Semaphore.acquire", "/usr/lib/python3.11/threading.py", 468),
      ("Condition.wait", "/usr/lib/python3.11/threading.py", 320)], "lock"),
    ([("SocketIO.readinto", "/usr/lib/python3.11/socket.py", 706)], "socket"),
    ([("HTTPResponse.begin", "/usr/lib/python3.11/http/client.py", 318)], "client"),  # a call out: see stack_classify
    ([("BaseServer.serve_forever", "/usr/lib/python3.11/socketserver.py", 233),
      ("_PollSelector.select", "/usr/lib/python3.11/selectors.py", 415)], "select"),
    ([("run", "/nonexistent/app.py", 3)], None),
])
def test_classify_library_frames(frames: list[tuple[str, str, int]], kind: str | None) -> None:
    assert classify(frames) == kind


def test_classify_by_source_line(tmp_path: object) -> None:
    import pathlib

    src = pathlib.Path(str(tmp_path)) / "app.py"
    src.write_text("time.sleep(1)\nos.fsync(fd)\nx += 1\nsel.poll(1)\n")
    p = str(src)
    assert classify([("f", p, 1)]) == "sleep"
    assert classify([("f", p, 2)]) == "disk"
    assert classify([("f", p, 3)]) is None
    assert classify([("f", p, 4)]) == "select"


def test_parse_raw_line_and_tally() -> None:
    line = 'process 7:"python a.py";thread (7): MainThread;<module> (/a/a.py:14);spin (/a/a.py:11) 33\n'
    parsed = parse_raw_line(line)
    assert parsed == (7, "MainThread", [("<module>", "/a/a.py", 14), ("spin", "/a/a.py", 11)], 33)
    tally = Tally()
    tally.add_stack(*parsed)
    assert tally.functions()[0].name == "spin (a.py:11)"
    assert parse_raw_line("garbage") is None


def test_a_wait_is_named_by_the_program_frame_not_the_standard_library() -> None:
    tally = Tally()
    frames = [("handle", "/srv/app/handlers.py", 40), ("Semaphore.acquire", "/usr/lib/python3.11/threading.py", 468),
              ("Condition.wait", "/usr/lib/python3.11/threading.py", 327)]
    tally.add_stack(7, "worker", frames, 10)
    (state,) = tally.thread_states()
    assert state.waits == {"lock": 100.0}
    assert state.top_wait == "handle (handlers.py:40)"


def test_windows_closed_a_moment_apart_do_not_turn_stacks_off() -> None:
    with child(BURN_ONE_THREAD, seconds=8.0) as (proc, _):
        t0 = time.monotonic()
        probe = StackProbe(proc.pid, t0=t0)
        probe.start()
        try:
            for _ in range(3):  # a step and the ramp's end in consecutive ticks: records stopped before attaching
                probe.take_window(time.monotonic() - t0)
            assert probe.error is None
            time.sleep(1.5)
            window = probe.take_window(time.monotonic() - t0)
        finally:
            probe.stop()
    assert probe.error is None or "exited" in probe.error
    assert window is not None and window.samples > 10
