"""Text for the screen that holds names bottlenecktop did not write (process, thread and function names, URLs,
anything a recording holds): each control or format character is shown as its escape, so that the terminal never
obeys it. Rich's ``Text`` never parses markup; plain ``str`` given to a Static or a DataTable would."""

from __future__ import annotations

from rich.text import Text

from bottlenecktop.probes.printable import UNSAFE, printable


def plain(text: str) -> Text:
    """``text`` as a Text, escaped: for widgets that would read a ``str`` as markup."""
    return Text(printable(text))


def escaped(text: Text) -> Text:
    """``text`` with its control and format characters escaped (its line breaks kept), styles kept; the same
    object when it has none, which is nearly always."""
    found = [m.start() for m in UNSAFE.finditer(text.plain) if m.group() != "\n"]
    if not found:
        return text
    pieces = text.divide(found)
    out = pieces[0]
    for piece in pieces[1:]:
        head = Text(printable(piece.plain[0]), style=piece.style)
        out = Text.assemble(out, head, piece[1:])
    out.no_wrap, out.overflow, out.justify, out.end = text.no_wrap, text.overflow, text.justify, text.end
    return out
