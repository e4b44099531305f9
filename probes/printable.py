"""Text that bottlenecktop did not write itself (names, command lines, a child's error line), made safe to show:
every control or format character is written as its escape, so it is seen, not obeyed by the terminal."""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the format characters that reorder or hide text (bidi overrides, zero widths).
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with each control or format character replaced by its backslash escape (``\\x1b``)."""
    return UNSAFE.sub(_escape, text)


def printable_lines(text: str) -> str:
    """``text`` with each line made printable and its line breaks kept."""
    return "\n".join(printable(line) for line in text.split("\n"))
