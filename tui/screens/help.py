"""The keys, and what the panels mean; any key closes it."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
[b]bottlenecktop[/b]: the magic number (the highest rate this machine sustains within the SLO)
and the resource that stops it going higher.

[b]Live run[/b]
  p        pause / resume the ramp        h      hold the current rate
  + / -    raise / lower the rate         s      stop the ramp (the screen stays)
  m        mark an event on the timeline  a      attach to the highlighted process (observe)
[b]Replay[/b]
  ← / →    one tick back / forward        [ / ]  previous / next ramp step
  k        jump to the knee               ' / "  next / previous mark
  home/end start / end of the run
[b]Panels[/b]
  1 load  2 resources  3 stacks  4 process  5 states     n  dismiss notices
  f        flame graph of the stacks (arrows select, enter drills in, escape backs out, w window)
  ctrl+p   command palette                           q  quit (stops the run, closes the recording)

[b]Reading it[/b]
  The top bar: the ramp phase, the magic number, the leading finding and its evidence;
  red is saturated, yellow a warning. Load and resources share one time axis; the saturated
  resource is drawn red and marked ▲. Stacks: own% = samples with the function on top,
  tot% = anywhere on the stack; per thread: running, GIL held, lock/socket/disk waits, idle.
  Thread states: the share of the target's thread-time the kernel saw in each state, over time.
"""


class HelpScreen(ModalScreen[None]):
    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(HELP, id="help-text")

    def on_key(self, event: events.Key) -> None:
        event.stop()  # the key only closes help; it must not also pause the ramp or quit
        self.dismiss()
