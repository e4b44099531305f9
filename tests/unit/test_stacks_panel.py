"""The stacks panel reads as where the thread-time goes: one line per pool, its leading state and where."""

from __future__ import annotations

from rich.console import Console

from bottlenecktop.probes.samples import FunctionShare, PeerWait, StackWindow, ThreadState, WaitSample
from bottlenecktop.tui.widgets.stacks_panel import pool_of, pools, render_stacks


def _text(renderable: object, width: int = 100) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def _lock_window() -> StackWindow:
    # The lock demo's shape: 176 handler threads, most of their time waiting on the lock around work(), the
    # rest idle on their keep-alive sockets; the main thread in accept.
    handlers = [ThreadState(tid=100 + k, name=f"Thread-{104 + k} (process_request_thread)", samples=40,
                            running_pct=3.0, waits={"lock": 61.0, "select": 36.0},
                            top_wait="work (work.py:57)") for k in range(176)]
    main = ThreadState(tid=1, name="MainThread", samples=40, running_pct=1.0, waits={"select": 99.0},
                       top_wait="serve_forever (socketserver.py:235)")
    return StackWindow(t_start=10, t_end=15, pid=4242, samples=177 * 40, threads=[*handlers, main],
                       functions=[FunctionShare(name="work (work.py:57)", own_pct=40.0, total_pct=60.0)])


def test_pools_group_numbered_threads() -> None:
    assert pool_of("Thread-104 (process_request_thread)") == "process_request_thread"
    assert pool_of("ThreadPoolExecutor-0_3") == "ThreadPoolExecutor-N_N"
    assert pool_of("MainThread") == "MainThread"
    groups = pools(_lock_window().threads)
    assert [(g.name, len(g.threads)) for g in groups] == [("process_request_thread", 176), ("MainThread", 1)]


def test_the_lock_demo_reads_in_one_row() -> None:
    text = _text(render_stacks(_lock_window(), rows=12))
    rows = text.splitlines()
    assert any(r.startswith("process_request_thread ×176: lock 61 % of thread-time, in work (work.py:57)")
               for r in rows), text
    assert any(r.startswith("MainThread ×1: idle 99 % of thread-time, in serve_forever") for r in rows), text
    assert "Thread-104" not in text  # no thread-per-row listing to add up


def test_the_kernel_line_shows_any_language_and_the_downstream() -> None:
    waits = WaitSample(t_start=10, t_end=11, pid=77, sweeps=5, threads=16.0,
                       waits={"socket": 80.0, "running": 5.0, "idle": 15.0},
                       peers=[PeerWait(peer="127.0.0.1:5432", role="downstream", threads=12.8, pct=80.0)])
    text = _text(render_stacks(None, rows=6, waits=waits))
    assert "kernel: socket 80% (127.0.0.1:5432) · idle 15% · running 5% · 16 threads" in text, text
    assert "no stacks yet" in text


def test_threads_running_without_the_gil_are_waiting_for_it() -> None:
    # Four CPU-bound Python threads: each runs 95 % of its samples but holds the GIL in a quarter of the dumps.
    workers = [ThreadState(tid=10 + k, name=f"ThreadPoolExecutor-0_{k}", samples=100, running_pct=95.0,
                           gil_pct=24.0, waits={"select": 5.0}, top_wait="_worker (thread.py:89)")
               for k in range(4)]
    window = StackWindow(t_start=0, t_end=5, pid=9, samples=400, threads=workers, gil_pct=96.0,
                         functions=[FunctionShare(name="crunch (app.py:12)", own_pct=90.0, total_pct=95.0)])
    text = _text(render_stacks(window, rows=8))
    assert "ThreadPoolExecutor-N_N ×4: GIL wait 71 % of thread-time" in text, text
    assert "run 24%" in text, text
