"""A panel drawn line by line repaints only the lines that changed, and follows its text's height."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from bottlenecktop.tui.widgets.text_lines import TextLines


class _One(App[None]):
    CSS = "TextLines { height: auto; width: 20; }"

    def compose(self) -> ComposeResult:
        yield TextLines(id="panel")


async def test_only_the_changed_line_is_drawn_again_and_long_lines_end_in_an_ellipsis() -> None:
    app = _One()
    async with app.run_test(size=(40, 10)) as pilot:
        panel = app.query_one(TextLines)
        panel.show_text(Text("cpu 10%\nthreads 3\nrss 90 MiB"))
        await pilot.pause()
        assert panel.size.height == 3
        before = [panel.render_line(y) for y in range(3)]
        panel.show_text(Text("cpu 55%\nthreads 3\nrss 90 MiB"))
        await pilot.pause()
        after = [panel.render_line(y) for y in range(3)]
        assert after[0] is not before[0] and after[0].text.startswith("cpu 55%")
        assert after[1] is before[1] and after[2] is before[2]
        panel.show_text(Text("a line far longer than twenty cells\nb\nc\nd"))
        await pilot.pause()
        assert panel.size.height == 4  # laid out again for the new height
        first = panel.render_line(0).text
        assert len(first) == 20 and first.endswith("…")
        assert str(panel.render()).splitlines()[3] == "d"
