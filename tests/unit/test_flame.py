"""Flame graphs: the folded stacks a window keeps, the tree and its icicle layout, the windows that matter, the
differential of two runs, and the report's inline SVG."""

from __future__ import annotations

import re
from itertools import pairwise

from bottlenecktop.analysis.flame import (
    ROOT,
    diff_tree,
    find,
    flame_tree,
    flame_windows,
    layout,
)
from bottlenecktop.probes.samples import FoldedStack, StackWindow, StepResult
from bottlenecktop.probes.stack_classify import OTHER_STACKS, Tally
from bottlenecktop.session import Frame

SERVE = ("serve_forever", "/usr/lib/python3.11/socketserver.py", 240)
HANDLE = ("handle", "/app/server.py", 30)
WORK = ("work", "/app/work.py", 57)
RENDER = ("render", "/app/work.py", 80)
ACQUIRE = ("acquire", "/usr/lib/python3.11/threading.py", 120)
SELECT = ("select", "/usr/lib/python3.11/selectors.py", 415)


def _window(t_end: float, folded: list[tuple[list[str], int, str]]) -> StackWindow:
    names: dict[str, int] = {}
    stacks = [FoldedStack(frames=[names.setdefault(n, len(names)) for n in frames], count=count, state=state)
              for frames, count, state in folded]
    return StackWindow(t_start=t_end - 2, t_end=t_end, pid=1, samples=sum(c for _, c, _ in folded),
                       names=list(names), folded=stacks)


def test_a_window_keeps_its_stacks_by_state_without_idle_waits_and_sums_the_tail() -> None:
    tally = Tally()
    tally.add_stack(1, "Thread-1", [SERVE, HANDLE, WORK], 60)
    tally.add_stack(2, "Thread-2", [SERVE, HANDLE, WORK, ACQUIRE], 30)
    tally.add_stack(3, "Thread-3", [SERVE, SELECT], 500)  # the accept loop, idle: not drawn
    names, folded = tally.folded_stacks()
    drawn = {(tuple(names[i] for i in s.frames), s.state): s.count for s in folded}
    assert drawn == {
        (("serve_forever (socketserver.py)", "handle (server.py)", "work (work.py)"), "running"): 60,
        (("serve_forever (socketserver.py)", "handle (server.py)", "work (work.py)", "acquire (threading.py)"),
         "lock"): 30,
    }
    for i in range(5):
        tally.add_stack(4, "Thread-4", [SERVE, (f"f{i}", "/app/x.py", 1)], 1)
    names, folded = tally.folded_stacks(limit=2)
    assert len(folded) == 3 and names[folded[-1].frames[0]] == OTHER_STACKS and folded[-1].count == 5


def test_the_tree_sums_counts_and_states_and_the_layout_nests_boxes_inside_their_parent() -> None:
    w = _window(10, [(["main", "handle", "work"], 240, "running"),
                     (["main", "handle", "work", "acquire"], 120, "lock"),
                     (["main", "handle", "render"], 38, "running"), (["main", "tiny"], 1, "running")])
    tree = flame_tree([w, w])
    work = find(tree, ["main", "handle", "work"])
    assert tree.name == ROOT and tree.count == 798
    assert work is not None and work.count == 720 and work.states == {"running": 480, "lock": 240}
    assert work.state == "running" and work.own() == 480
    boxes = layout(tree, 100, 10)
    by_path = {b.path: b for b in boxes}
    assert by_path[()].x0 == 0 and by_path[()].x1 == 100
    assert by_path[("main", "handle", "work")].x1 - by_path[("main", "handle", "work")].x0 == 90
    for b in boxes:  # every box lies inside its parent, and boxes of a row never overlap
        if b.path:
            parent = by_path[b.path[:-1]]
            assert parent.x0 <= b.x0 < b.x1 <= parent.x1 and b.depth == parent.depth + 1
    rows: dict[int, list[tuple[int, int]]] = {}
    for b in boxes:
        rows.setdefault(b.depth, []).append((b.x0, b.x1))
    for spans in rows.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in pairwise(spans))
    assert ("main", "tiny") not in by_path  # a quarter of a column: left out, its samples still in main's width
    assert max(b.depth for b in layout(tree, 100, 2)) == 1


def _step(n: int, t0: float, t1: float, p99: float) -> StepResult:
    return StepResult(step=n, phase="ramping", t_start=t0, t_end=t1, offered_rps=100.0 * (n + 1),
                      achieved_rps=100.0 * (n + 1), p99_ms=p99)


def test_the_windows_that_matter_are_the_knee_the_worst_step_and_the_whole_run() -> None:
    frames = [Frame(t=float(t), stacks=_window(float(t), [(["main", f"s{t}"], 10, "running")])) for t in (5, 10, 15)]
    steps = [_step(0, 0, 5, 10), _step(1, 5, 10, 20), _step(2, 10, 15, 900)]
    windows = flame_windows(frames, steps, steps[1])
    assert [w.kind for w in windows] == ["knee", "worst", "run"]
    assert [w.t_end for w in windows[0].windows] == [10.0]
    assert [w.t_end for w in windows[1].windows] == [15.0]
    assert len(windows[2].windows) == 3
    assert "step 1" in windows[0].label and "p99 900 ms" in windows[1].label
    assert flame_windows([Frame(t=1.0)], steps, steps[1]) == []


def test_the_differential_marks_what_took_more_and_what_took_less_of_the_time() -> None:
    base = flame_tree([_window(5, [(["main", "work"], 50, "running"), (["main", "render"], 50, "running")])])
    new = flame_tree([_window(5, [(["main", "work"], 90, "lock"), (["main", "render"], 10, "running")])])
    d = diff_tree(base, new)
    work, render = find(d, ["main", "work"]), find(d, ["main", "render"])
    assert work is not None and render is not None
    assert work.delta is not None and round(work.delta) == 40 and work.count == 90
    assert render.delta is not None and round(render.delta) == -40
    assert d.delta == 0.0


def test_the_report_draws_the_knee_and_worst_windows_as_inline_svg_with_meaningful_colours() -> None:
    from bottlenecktop.recording import Recording
    from bottlenecktop.report import render_report
    from bottlenecktop.tui.synthetic import synthetic_session

    session = synthetic_session(40, finished=True)
    page = render_report(Recording(header=session.header, frames=session.snapshot(), verdict=None), "html")
    assert "<h2>Where the time goes</h2>" in page
    titles = re.findall(r"<text[^>]*font-weight=\"bold\">(Flame graph: [^<]*)</text>", page)
    assert titles and all("step" in t for t in titles), titles
    # the widest running frame is warm, the socket read under handle_one_request is blue; no script, no link
    assert re.search(r"<title>render_page \(app.py\) · [\d.]+ % of the samples[^<]*running", page)
    assert 'fill="#3a6cc8"' in page or 'fill="#548ae0"' in page
    assert "<script" not in page and "http" not in page.split("Where the time goes")[1].split("</svg>")[0]
