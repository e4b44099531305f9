"""Readers of the report's outputs for other tools, as those tools read them: folded lines (flamegraph.pl's rule),
speedscope's JSON schema (tests/unit/data, from the speedscope 1.25.0 npm package, MIT), hdrh's HistogramLogReader."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from bottlenecktop.analysis.flame import FlameNode
from bottlenecktop.report_export import NO_FRAMES, frame_name
from tests.support.paths import ROOT

SCHEMA = json.loads((ROOT / "tests" / "unit" / "data" / "speedscope-file-format-schema.json").read_text())
PERCENTILES = (50.0, 90.0, 99.0, 99.9, 100.0)


def parse_folded(text: str) -> Counter[tuple[str, ...]]:
    """Folded lines as flamegraph.pl reads them: the count after the last space, frames split on ';'."""
    out: Counter[tuple[str, ...]] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        assert stack and count.isdigit(), line
        out[tuple(stack.split(";"))] += int(count)
    return out


def tree_of(stacks: Counter[tuple[str, ...]]) -> dict[tuple[str, ...], int]:
    """Samples per path from the root: what a flame graph of these stacks draws."""
    widths: Counter[tuple[str, ...]] = Counter()
    for stack, n in stacks.items():
        for depth in range(len(stack) + 1):
            widths[stack[:depth]] += n
    return dict(widths)


def flame_paths(node: FlameNode, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Samples per path of analysis.flame's tree, names as a folded line spells them; the root's own samples
    (stacks without a Python frame) under NO_FRAMES, as the outputs write them."""
    out = {path: node.count}
    if not path and node.own() > 0:
        out[(NO_FRAMES,)] = node.own()
    for child in node.children.values():
        out.update(flame_paths(child, (*path, frame_name(child.name))))
    return out


def schema_errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """The draft-07 keywords speedscope's schema uses ($ref, anyOf, const, enum, type, properties, required,
    items): every way ``value`` breaks ``schema``."""
    if "$ref" in schema:
        return schema_errors(value, SCHEMA["definitions"][schema["$ref"].rsplit("/", 1)[1]], path)
    if "anyOf" in schema:
        tries = [schema_errors(value, s, path) for s in schema["anyOf"]]
        return [] if any(not t for t in tries) else [f"{path}: matches none of anyOf ({tries})"]
    kinds: dict[str, type | tuple[type, ...]] = {"string": str, "number": (int, float), "array": list, "object": dict}
    kind = schema.get("type")
    if kind is not None and (not isinstance(value, kinds[kind]) or isinstance(value, bool)):
        return [f"{path}: not a {kind}"]
    out = []
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: not one of {schema['enum']}")
    if isinstance(value, dict):
        out += [f"{path}: {key} missing" for key in schema.get("required", ()) if key not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                out += schema_errors(value[key], sub, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += schema_errors(item, schema["items"], f"{path}[{i}]")
    return out


def check_speedscope(doc: dict[str, Any]) -> None:
    """What the schema says (above), and what it cannot say: frame indices in range, a weight per sample."""
    assert schema_errors(doc, SCHEMA) == []
    n = len(doc["shared"]["frames"])
    for p in doc["profiles"]:
        assert p["type"] == "sampled" and len(p["samples"]) == len(p["weights"])
        assert all(isinstance(i, int) and 0 <= i < n for stack in p["samples"] for i in stack)
        assert all(isinstance(w, int) and w > 0 for w in p["weights"])
        assert p["startValue"] == 0 and p["endValue"] == sum(p["weights"])
    assert 0 <= doc["activeProfileIndex"] < len(doc["profiles"])


def read_hlog(tmp_path: Path, text: str) -> tuple[list[HdrHistogram], float]:
    """Every interval hdrh's HistogramLogReader reads (timestamps relative to the log's start), and that start."""
    path = tmp_path / "run.hlog"
    path.write_text(text)
    reader = HistogramLogReader(str(path), HdrHistogram(1, 3_600_000_000, 3))
    out = []
    while (h := reader.get_next_interval_histogram()) is not None:
        out.append(h)
    start = reader.get_start_time_sec()
    reader.close()
    return out, start


def same_histogram(got: HdrHistogram, want: HdrHistogram) -> None:
    assert got.get_total_count() == want.get_total_count() > 0
    assert [got.get_value_at_percentile(p) for p in PERCENTILES] == \
        [want.get_value_at_percentile(p) for p in PERCENTILES]
    assert got.get_min_value() == want.get_min_value()
