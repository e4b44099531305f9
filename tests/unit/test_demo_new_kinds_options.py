"""The new demo kinds' knobs and limits by construction (pure: no server is started)."""

from __future__ import annotations

import pytest

from bottlenecktop.demo import kinds
from bottlenecktop.demo.kinds import parse_demo_options, resolve_options, spec_for


@pytest.mark.parametrize(("kind", "options", "capacity"), [
    ("async-downstream", {}, 200.0),
    ("async-downstream", {"concurrency": "8", "delay_ms": "40"}, 200.0),
    ("proxy", {"slots": "2"}, 100.0),
    ("quota", {}, 50.0),
    ("quota", {"quota_cpus": "0.25", "work_ms": "10"}, 25.0),
    ("quota", {"quota_cpus": "3"}, 100.0),  # one GIL: more quota than a core adds nothing
    ("leak", {}, None),
])
def test_capacity_by_construction(kind: str, options: dict[str, str], capacity: float | None) -> None:
    assert spec_for(kind).capacity_rps(resolve_options(kind, options)) == capacity


def test_leak_fuse_defaults_to_a_quarter_of_available_memory() -> None:
    import psutil

    cap = int(resolve_options("leak", {})["cap_mib"])
    assert cap == pytest.approx(psutil.virtual_memory().available / 4 / 2**20, rel=0.2)


def test_a_kind_this_machine_cannot_run_is_one_line() -> None:
    spec = spec_for("proxy")
    missing = kinds.KindSpec(spec.name, spec.summary, spec.knobs, spec.capacity_rps, lambda: "no nginx here")
    saved = kinds.SPECS["proxy"]
    kinds.SPECS["proxy"] = missing
    try:
        with pytest.raises(ValueError, match=r"^no nginx here$"):
            parse_demo_options("proxy", [])
    finally:
        kinds.SPECS["proxy"] = saved


def test_bad_knobs_are_one_line() -> None:
    with pytest.raises(ValueError, match=r"quota_cpus=0 .* between"):
        parse_demo_options("quota", ["quota_cpus=0"])
    with pytest.raises(ValueError, match="unknown demo option 'workers'"):
        parse_demo_options("async-downstream", ["workers=3"])
