"""The demo's kinds and options as pure logic: every kind is documented in the README's table, and a bad option
is one clear line before anything starts."""

from __future__ import annotations

import re

import pytest

from bottlenecktop.demo import DEMO_KINDS, parse_demo_options, start_demo
from tests.support.paths import ROOT


def test_every_kind_is_in_the_readmes_table_and_no_other() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The demo kinds", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z-]+)` \|", section, re.M)
    assert sorted(DEMO_KINDS) == sorted(documented)


def test_parse_demo_options_normalises_what_it_is_given() -> None:
    assert parse_demo_options("lock", ["workers=8", " work_ms = 5 "]) == {"workers": "8", "work_ms": "5.0"}
    assert parse_demo_options("fds", []) == {}


@pytest.mark.parametrize(
    ("kind", "items", "needle"),
    [
        ("nope", [], "unknown demo kind"),
        ("lock", ["threads=4"], "unknown demo option 'threads'"),
        ("lock", ["workers"], "expected key=value"),
        ("lock", ["workers=four"], "not a number"),
        ("lock", ["workers=0"], "must be between"),
        ("lock", ["workers=-3"], "must be between"),
        ("fds", ["limit=1e9"], "not a number"),
        ("gil", ["work_ms=nan"], "must be between"),
    ],
)
def test_bad_options_are_one_clear_line(kind: str, items: list[str], needle: str) -> None:
    with pytest.raises(ValueError, match=needle) as info:
        parse_demo_options(kind, items)
    assert "\n" not in str(info.value)


def test_start_demo_rejects_a_bad_option_before_starting_anything() -> None:
    with pytest.raises(ValueError, match="unknown demo option"):
        start_demo("cpu", {"wrokers": "2"})
