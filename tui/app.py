"""The bottlenecktop screen: renders a Session (live, replayed, or two compared) and sends commands.

It never measures anything: frames arrive from the engine's tick thread as ``FrameAdded`` messages, and every
redraw (live or replay) goes through ``redraw()``: at most once a tick, only the visible panels, over a bounded
window of frames.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import ClassVar

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from bottlenecktop.analysis.flame import latest_window, run_windows
from bottlenecktop.control import Controller
from bottlenecktop.probes.samples import AgentFigures, ProcBrief, ProcSample, StackWindow, WaitSample
from bottlenecktop.progress import ramp_progress
from bottlenecktop.session import EventKind, Frame, Session
from bottlenecktop.tui.cursor import TimeCursor
from bottlenecktop.tui.messages import FrameAdded, VerdictReady
from bottlenecktop.tui.screens.compare import CompareScreen
from bottlenecktop.tui.screens.flame import FlameScreen
from bottlenecktop.tui.screens.help import HelpScreen
from bottlenecktop.tui.series import window
from bottlenecktop.tui.status import bar_status
from bottlenecktop.tui.widgets.load_plot import LoadPlot
from bottlenecktop.tui.widgets.notice_bar import NoticeBar
from bottlenecktop.tui.widgets.process_panel import ProcessPanel
from bottlenecktop.tui.widgets.resource_plot import ResourcePlot
from bottlenecktop.tui.widgets.stacks_panel import StacksPanel
from bottlenecktop.tui.widgets.state_strip import StateStrip
from bottlenecktop.tui.widgets.too_small import TooSmall
from bottlenecktop.tui.widgets.top_procs import TopProcs
from bottlenecktop.tui.widgets.verdict_bar import VerdictBar
from bottlenecktop.verdict_types import Verdict

MIN_WIDTH, MIN_HEIGHT = 60, 16  # below this the panels cannot say anything readable
PLOT_HISTORY_S = 300.0  # seconds of history the plots show
MODES = ("live", "replay", "compare")
RAMP_ACTIONS = {"pause", "hold", "raise_rate", "lower_rate", "stop"}  # need a load driver
REPLAY_ACTIONS = {"tick_back", "tick_forward", "prev_step", "next_step", "knee", "next_mark", "prev_mark",
                  "home", "end"}
PANELS = {"1": "load", "2": "resources", "3": "stacks", "4": "process", "5": "states"}
STATES_MIN_HEIGHT = 32  # below this the thread-state strip folds away unless asked for (key 5)
# Events a person has to act on or know about: the target gone, stacks off, the driver's trouble, a failed attach.
NOTICE_KINDS: frozenset[EventKind] = frozenset({"target-exit", "target-stopped", "target-resumed", "target-restarted",
                                                 "stacks", "driver", "attach-failed"})


class BottleneckApp(App[int]):
    """The screen; ``run()`` returns the exit status the CLI uses (0 after a normal quit)."""

    TITLE = "bottlenecktop"
    CSS_PATH = "app.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 (Textual types it so)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause/resume"),
        Binding("h", "hold", "Hold"),
        Binding("plus,equals_sign", "raise_rate", "Rate+", key_display="+"),
        Binding("minus", "lower_rate", "Rate-", key_display="-"),
        Binding("s", "stop", "Stop"),
        Binding("m", "mark", "Mark"),
        Binding("a", "attach", "Attach"),
        Binding("left", "tick_back", "-1s"),
        Binding("right", "tick_forward", "+1s"),
        Binding("left_square_bracket", "prev_step", "Step", key_display="["),
        Binding("right_square_bracket", "next_step", "Step", key_display="]"),
        Binding("k", "knee", "Knee"),
        Binding("f", "flame", "Flame"),
        Binding("apostrophe", "next_mark", "Mark", key_display="'"),
        Binding("quotation_mark", "prev_mark", "Prev mark", show=False),
        Binding("home", "home", "Start", show=False),
        Binding("end", "end", "End", show=False),
        Binding("1", "toggle_panel('load')", "Load", show=False),
        Binding("2", "toggle_panel('resources')", "Resources", show=False),
        Binding("3", "toggle_panel('stacks')", "Stacks", show=False),
        Binding("4", "toggle_panel('process')", "Process", show=False),
        Binding("5", "toggle_panel('states')", "States", show=False),
        Binding("n", "dismiss_notices", "Dismiss notices", show=False),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, session: Session, controller: Controller | None = None, *, mode: str = "live",
                 compare_with: Session | None = None, notices: Sequence[str] = ()) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode == "compare" and compare_with is None:
            raise ValueError("compare mode needs compare_with (the second session)")
        super().__init__()
        self.session = session
        self.controller = controller
        self.mode = mode
        self.compare_with = compare_with
        self.notices: list[str] = list(notices)
        self.cursor = TimeCursor(session.snapshot()) if mode != "live" else None
        self.hidden: set[str] = set()  # panels the person hid
        self.asked: set[str] = set()  # panels the person asked for that are folded away by default
        self.paused = False
        self.marks_sent = 0
        self._last_redraw = 0.0  # monotonic seconds
        self._redraw_pending = False
        # Session seconds of the last frame whose events became notices: a time, not an index, because a
        # live session lets go of its oldest frames (Session.keep_frames)
        self._seen_t = -math.inf
        # Monotonic seconds of the event loop's last beat: a loop blocked on writing to a terminal nobody reads
        # stops beating, and the run is then closed without the screen (bottlenecktop.app.modes).
        self.alive_at = time.monotonic()

    # ---- layout -------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield VerdictBar(id="verdict")
        yield NoticeBar(id="notices")
        yield TooSmall(id="too-small")
        with Container(id="body"):
            with Vertical(id="plots"):
                yield LoadPlot(id="load")
                yield ResourcePlot(id="resources")
                yield StateStrip(id="states")
            with Horizontal(id="side"):
                yield StacksPanel(id="stacks")
                yield ProcessPanel(id="process")
                yield TopProcs(id="top-procs")
        yield Static(id="cursor-bar")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#load").border_title = "load"
        self.query_one("#resources").border_title = "resources %"
        self.query_one("#states").border_title = "thread states (kernel)"
        self.query_one("#stacks").border_title = "stacks"
        self.query_one("#process").border_title = "process"
        self.query_one("#top-procs").border_title = "busiest processes · a: attach"
        self.query_one("#cursor-bar").display = self.mode == "replay"
        self._apply_size(self.size.width, self.size.height)
        if self.mode == "live":
            self.set_interval(1.0, self._beat)
            self.session.subscribe(self._on_tick_thread)
            self.session.subscribe_verdict(lambda verdict: self.post_message(VerdictReady(verdict)))
        if self.mode == "compare" and self.compare_with is not None:
            self.push_screen(CompareScreen(self.session, self.compare_with))
        self.call_after_refresh(self.redraw)

    def _beat(self) -> None:
        self.alive_at = time.monotonic()

    def _on_tick_thread(self, frame: Frame) -> None:
        """Called on the engine's tick thread: post_message is the one thread-safe call."""
        self.post_message(FrameAdded(frame))

    def on_resize(self, event: events.Resize) -> None:
        self._apply_size(event.size.width, event.size.height)
        self.call_after_refresh(self.redraw)

    def _apply_size(self, width: int, height: int) -> None:
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        too_small = self.query_one(TooSmall)
        too_small.display = small
        self.query_one("#body").display = not small
        if small:
            too_small.show_size(width, height, MIN_WIDTH, MIN_HEIGHT)

    # ---- data ---------------------------------------------------------------------------------------------
    def frames_so_far(self) -> Sequence[Frame]:
        """Live: every frame; replay: up to the time cursor."""
        if self.cursor is not None:
            return self.cursor.so_far()
        return self.session.snapshot()

    def on_verdict_ready(self, message: VerdictReady) -> None:
        """The final verdict replaces the live status on the bar; redraw once more to show it."""
        self.call_later(self.redraw)

    def on_frame_added(self, message: FrameAdded) -> None:
        """Coalesce bursts: redraw now if the last redraw is at least half a tick old, else once, later."""
        if self._redraw_pending:
            return
        gap = self.session.header.interval * 0.5 - (time.monotonic() - self._last_redraw)
        self._redraw_pending = True
        if gap <= 0:
            self.call_later(self.redraw)
        else:
            self.set_timer(gap, self.redraw)

    def _visible(self, panel: str, frames: Sequence[Frame]) -> bool:
        if panel in self.hidden:
            return False
        target = self.session.header.target
        recent = frames[-30:]
        if panel == "load":
            return self.session.header.mode in ("ramp", "demo") or any(f.load for f in recent)
        if panel in ("stacks", "process"):
            return target.pid is not None or target.url is not None or any(f.target for f in recent)
        if panel == "states":
            has_waits = any(f.waits is not None and f.waits.waits for f in recent)
            return has_waits and (self.size.height >= STATES_MIN_HEIGHT or panel in self.asked)
        if panel == "top-procs":
            return "process" not in self.hidden and not self._visible("process", frames)
        return True

    def redraw(self) -> None:
        """Bring every visible panel up to the frames so far: one plot build per visible plot."""
        self._redraw_pending = False
        self._last_redraw = time.monotonic()
        frames = self.frames_so_far()
        at_end = self.cursor is None or self.cursor.at_end
        status = bar_status(self.session.header, frames, self.session.verdict if at_end else None)
        self.query_one(VerdictBar).status = status
        self._collect_notices(frames)
        self.query_one(NoticeBar).show_notices(self.notices)
        if self.query_one("#body").display is False:
            return
        shown = window(frames, None, PLOT_HISTORY_S)
        x1 = shown[-1].t if shown else 0.0
        x0 = max(shown[0].t if shown else 0.0, x1 - PLOT_HISTORY_S)
        x1 = max(x1, x0 + 60.0)  # a fresh run fills the plot from the left instead of stretching 3 s wide
        with self.batch_update():
            for panel in ("load", "resources", "states", "stacks", "process", "top-procs"):
                widget = self.query_one(f"#{panel}")
                widget.display = self._visible(panel, frames)
            load = self.query_one(LoadPlot)
            load.show_x = not self.query_one(ResourcePlot).display  # the plots share one time axis
            if load.display:
                load.redraw(shown, x0, x1)
                # Progress of a running ramp (live, or a replay's cursor inside one), ahead of the legend.
                progress = ramp_progress(self.session.header, shown, compact=True)
                if progress:
                    load.border_title = f"{progress} │ {load.border_title}"
            resources = self.query_one(ResourcePlot)
            if resources.display:
                resources.redraw(shown, x0, x1, status.resource)
            states = self.query_one(StateStrip)
            if states.display:
                states.show(shown, x0, x1)
            stacks = self.query_one(StacksPanel)
            if stacks.display:
                stacks.show_window(_latest_stacks(shown), _latest_waits(shown))
            process = self.query_one(ProcessPanel)
            if process.display:
                process.show_process(*_latest_procs(shown))
            top = self.query_one(TopProcs)
            if top.display:
                top.show_procs(_latest_top_procs(shown))
            if self.cursor is not None:
                self.query_one("#cursor-bar", Static).update(self._cursor_text(), layout=False)

    def _collect_notices(self, frames: Sequence[Frame]) -> None:
        """Events that need a person (py-spy permission, an exit) become notices, each once."""
        start = len(frames)
        while start > 0 and frames[start - 1].t > self._seen_t:
            start -= 1
        for frame in frames[start:]:
            for event in frame.events:
                if event.kind in NOTICE_KINDS and event.text not in self.notices:
                    self.notices.append(event.text)
            if frame.stacks is not None and frame.stacks.error:
                note = f"py-spy: {frame.stacks.error}"
                if note not in self.notices:
                    self.notices.append(note)
        if frames:
            self._seen_t = frames[-1].t

    def _cursor_text(self) -> str:
        assert self.cursor is not None
        last = self.cursor.frames[-1].t if self.cursor.frames else 0.0
        return (f" replay  t = {self.cursor.t:.0f} s of {last:.0f} s   ←/→ tick   [ ] step   k knee   ' mark"
                "   home/end")

    # ---- commands to the run ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide what does not apply: run commands without a live controller, cursor keys outside replay."""
        if isinstance(self.screen, FlameScreen) and action not in ("quit", "help"):
            return False  # the flame graph has its own keys: the run's and the cursor's must not act under it
        live = self.mode == "live" and self.controller is not None
        if action in RAMP_ACTIONS:
            return live and self.session.header.mode in ("ramp", "demo")
        if action == "mark":
            return live
        if action in REPLAY_ACTIONS:
            return self.mode == "replay"
        if action == "attach":
            return live and self.query_one(TopProcs).display
        return True

    def send(self, name: str, value: float | str | None = None) -> None:
        """One command to the run; a failing controller becomes a notice, never a crash."""
        if self.controller is None:
            return
        try:
            self.controller.command(name, value)
        except Exception as exc:  # the run's problem must not take the screen down
            self.notices.append(f"command {name} failed: {exc}")
            self.query_one(NoticeBar).show_notices(self.notices)

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.send("pause" if self.paused else "resume")
        self.notify("ramp paused" if self.paused else "ramp resumed", timeout=2)

    def action_hold(self) -> None:
        self.send("hold")
        self.notify("holding the current rate", timeout=2)

    def action_raise_rate(self) -> None:
        self.send("raise")

    def action_lower_rate(self) -> None:
        self.send("lower")

    def action_stop(self) -> None:
        self.send("stop")
        self.notify("ramp stopping", timeout=2)

    def action_mark(self) -> None:
        self.marks_sent += 1
        label = f"mark {self.marks_sent}"
        self.send("mark", label)
        self.notify(f"{label} set", timeout=2)

    def action_attach(self) -> None:
        pid = self.query_one(TopProcs).selected_pid()
        if pid is None:
            self.notify("no process to attach to yet", severity="warning", timeout=3)
            return
        self.send("attach", pid)
        self.notify(f"attaching to pid {pid}", timeout=3)

    async def action_quit(self) -> None:
        """Stop the run (the runner then closes the recording) and leave with status 0."""
        if self.mode == "live":
            self.send("stop")
        self.exit(0)

    # ---- panels, help, notices ----------------------------------------------------------------------------
    def action_toggle_panel(self, panel: str) -> None:
        if panel == "states":  # folded away on small screens: the key shows it there, and hides it elsewhere
            shown = self._visible(panel, self.frames_so_far())
            self.hidden.discard(panel)
            self.asked.discard(panel)
            (self.hidden if shown else self.asked).add(panel)
        else:
            self.hidden.symmetric_difference_update({panel})
        self.redraw()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_flame(self) -> None:
        """The flame graph of the frames so far: a live run's latest window first, then the knee's, the worst
        step's and the whole run's."""
        frames = self.frames_so_far()
        windows = run_windows(frames)
        latest = latest_window(frames)
        if self.mode == "live" and self.session.verdict is None and latest is not None:
            windows = [latest, *windows]
        if not windows:
            self.notify("no stacks recorded yet (py-spy reads Python targets)", severity="warning", timeout=3)
            return
        self.push_screen(FlameScreen(windows))

    def action_dismiss_notices(self) -> None:
        self.notices.clear()
        self.query_one(NoticeBar).show_notices(())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.check_action("pause", ()):
            yield SystemCommand("Pause or resume the ramp", "p", self.action_pause)
            yield SystemCommand("Hold the current rate", "h", self.action_hold)
            yield SystemCommand("Raise the rate", "+", self.action_raise_rate)
            yield SystemCommand("Lower the rate", "-", self.action_lower_rate)
            yield SystemCommand("Stop the ramp", "s", self.action_stop)
        if self.check_action("mark", ()):
            yield SystemCommand("Mark an event", "m", self.action_mark)
        for key, panel in PANELS.items():
            yield SystemCommand(f"Show or hide the {panel} panel", key,
                                lambda panel=panel: self.action_toggle_panel(panel))
        yield SystemCommand("Flame graph of the target's stacks", "f", self.action_flame)
        yield SystemCommand("Help: keys and how to read the screen", "?", self.action_help)

    # ---- replay cursor ------------------------------------------------------------------------------------
    def _move(self, moved: bool = True) -> None:
        if not moved:
            self.bell()
        self.redraw()

    def action_tick_back(self) -> None:
        if self.cursor:
            self.cursor.step(-1)
            self._move()

    def action_tick_forward(self) -> None:
        if self.cursor:
            self.cursor.step(1)
            self._move()

    def action_prev_step(self) -> None:
        if self.cursor:
            self._move(self.cursor.jump_step(forward=False))

    def action_next_step(self) -> None:
        if self.cursor:
            self._move(self.cursor.jump_step(forward=True))

    def action_knee(self) -> None:
        if self.cursor:
            knee_t = _verdict_knee_t(self.session.verdict)
            self._move(self.cursor.jump_to(knee_t) if knee_t is not None else self.cursor.jump_knee())

    def action_next_mark(self) -> None:
        if self.cursor:
            self._move(self.cursor.jump_mark(forward=True))

    def action_prev_mark(self) -> None:
        if self.cursor:
            self._move(self.cursor.jump_mark(forward=False))

    def action_home(self) -> None:
        if self.cursor:
            self.cursor.home()
            self._move()

    def action_end(self) -> None:
        if self.cursor:
            self.cursor.end()
            self._move()


def _verdict_knee_t(verdict: Verdict | None) -> float | None:
    """Session seconds of the knee from the verdict, when the analysis found one."""
    return verdict.knee.t if verdict is not None and verdict.knee is not None else None


def _latest_stacks(frames: Sequence[Frame]) -> StackWindow | None:
    return next((f.stacks for f in reversed(frames) if f.stacks is not None), None)


def _latest_waits(frames: Sequence[Frame]) -> WaitSample | None:
    """The kernel's view of the target's threads over the last tick or two (a sample per tick)."""
    return next((f.waits for f in reversed(frames[-3:]) if f.waits is not None), None)


def _latest_procs(frames: Sequence[Frame]) -> tuple[ProcSample | None, ProcSample | None, Sequence[AgentFigures]]:
    """The target and driver samples at the end of ``frames`` and, with several load agents, their last second."""
    agents: Sequence[AgentFigures] = next(
        (f.load.agents for f in reversed(frames[-5:]) if f.load is not None and f.load.agents), ())
    for frame in reversed(frames[-5:]):
        if frame.target is not None:
            return frame.target, frame.driver, agents
    return None, None, agents


def _latest_top_procs(frames: Sequence[Frame]) -> list[ProcBrief]:
    """top_procs is refreshed every few ticks and empty in between: take the last non-empty list."""
    return next((f.node.top_procs for f in reversed(frames[-30:]) if f.node and f.node.top_procs), [])
