"""Names bottlenecktop did not write (process, thread, function and file names, cmdlines, URLs, whatever a
recording holds) are shown as text on every screen and in every text output: no control character reaches the
terminal, no markup is obeyed. Every free-text field of a session is filled with hostile strings, fixed ones and
ones hypothesis draws from any characters a name may hold."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bottlenecktop.analysis.verdict import build_verdict
from bottlenecktop.compare import compare_sessions, compare_table
from bottlenecktop.probes.printable import printable, printable_lines
from bottlenecktop.recording import Recording
from bottlenecktop.report import render_report
from bottlenecktop.session import Session
from bottlenecktop.summary import summary_text
from bottlenecktop.tui.app import BottleneckApp
from bottlenecktop.tui.synthetic import synthetic_session

# What a hostile name may do: set the terminal's title, hide text, clear the screen, reorder text, open a link,
# close Rich markup that was never opened (a MarkupError), or style what follows.
HOSTILE = ["\x1b]0;owned\x07", "\x1b[8m", "\x1b[2J\x1b[H", "\u202eevil", "\x9b31m", "[/]", "[link=http://x]y[/link]",
           "[bold red]x", "\r\n\t\x00\x7f"]
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


class NullController:
    def command(self, name: str, value: float | str | None = None) -> None:
        pass


def _is_text(hint: Any) -> bool:
    """A field that holds free text (str, or str | None): not a Literal, which a reader would refuse."""
    return hint is str or (typing.get_origin(hint) in (typing.Union, types.UnionType) and str in typing.get_args(hint))


def poison(obj: Any, evil: str) -> None:
    """Append ``evil`` to every free-text field of ``obj`` and of the structs inside it, in place."""
    if isinstance(obj, list):
        for item in obj:
            poison(item, evil)
        return
    if not isinstance(obj, msgspec.Struct):
        return
    hints = typing.get_type_hints(type(obj))
    for name in obj.__struct_fields__:
        value, hint = getattr(obj, name), hints.get(name)
        if isinstance(value, str) and _is_text(hint):
            setattr(obj, name, value + evil)
        elif isinstance(value, list) and value and isinstance(value[0], str) and \
                typing.get_args(hint) and typing.get_args(hint)[0] is str:
            setattr(obj, name, [v + evil for v in value])
        elif isinstance(value, dict):
            for v in value.values():
                poison(v, evil)
        else:
            poison(value, evil)


def hostile_session(evil: str, mode: str = "demo") -> Session:
    session = synthetic_session(40, mode=mode, finished=True)  # type: ignore[arg-type]
    poison(session.header, evil)
    for frame in session.frames:
        poison(frame, evil)
    if session.verdict is not None:
        poison(session.verdict, evil)
    return session


def assert_shown_as_text(output: str) -> None:
    bad = UNSAFE.search(output)
    assert bad is None, f"{bad.group()!r} at {bad.start()}: {output[max(0, bad.start() - 80):bad.start() + 40]!r}"


async def _screens(evil: str) -> None:
    for mode in ("live", "replay", "observe", "compare"):
        session = hostile_session(evil, "observe" if mode == "observe" else "demo")
        if mode == "live":
            app = BottleneckApp(session, NullController())
        elif mode == "observe":
            app = BottleneckApp(session, NullController(), mode="live")
        elif mode == "compare":
            app = BottleneckApp(session, mode="compare", compare_with=hostile_session(evil))
        else:
            app = BottleneckApp(session, mode="replay")
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause()
            assert_shown_as_text(app.export_screenshot())
            if mode == "replay":
                await pilot.press("k", "f")
                await pilot.pause()
                assert_shown_as_text(app.export_screenshot())


async def test_hostile_names_are_text_on_every_screen() -> None:
    for evil in HOSTILE:
        await _screens(evil)


def _text_outputs(evil: str) -> list[str]:
    session = hostile_session(evil)
    verdict = build_verdict(session.header, session.snapshot())
    poison(verdict, evil)
    rec = Recording(header=session.header, frames=session.snapshot(), verdict=verdict)
    other = Recording(header=session.header, frames=session.snapshot(), verdict=verdict)
    return [printable_lines(summary_text(verdict)), render_report(rec, "md"),
            printable_lines(compare_table(compare_sessions(rec, other)))]


def test_hostile_names_are_text_in_the_summary_the_md_report_and_compare() -> None:
    for evil in HOSTILE:
        for out in _text_outputs(evil):
            assert_shown_as_text(out)
            if "link=" in evil:
                assert "link=http://x" in out  # shown as text, not swallowed as markup


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1, max_size=12))
def test_any_name_is_text_in_the_text_outputs(evil: str) -> None:
    for out in _text_outputs(evil):
        assert_shown_as_text(out)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(max_codepoint=0x3000), min_size=1, max_size=8))
async def test_any_name_is_text_on_the_screens(evil: str) -> None:
    await _screens(evil)


def test_printable_keeps_ordinary_text() -> None:
    assert printable("nginx: worker process") == "nginx: worker process"
    assert printable("\x1b]0;t\x07") == "\\x1b]0;t\\x07"
