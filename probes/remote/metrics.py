"""One reading of an exporter: every series by metric name and labels, parsed once from the text format."""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs: hashable, one key per series
Reading = dict[str, dict[Labels, float]]  # metric name -> labels -> value


def labels_key(labels: dict[str, str], drop: Iterable[str] = ()) -> Labels:
    skip = set(drop)
    return tuple(sorted((k, v) for k, v in labels.items() if k not in skip))


def parse(text: str, wanted: tuple[str, ...] = ()) -> Reading:
    """The series of an exposition-format page; only names starting with one of ``wanted`` (all when empty).
    NaN samples are left out: a NaN is the exporter's way of saying it has no value."""
    out: Reading = {}
    if wanted:
        text = _only(text, wanted)
    for family in text_string_to_metric_families(text):
        # a counter family is named without its samples' "_total"
        if wanted and not (family.name.startswith(wanted) or f"{family.name}_total".startswith(wanted)):
            continue
        for sample in family.samples:
            if math.isnan(sample.value):
                continue
            out.setdefault(sample.name, {})[labels_key(sample.labels)] = float(sample.value)
    return out


def _only(text: str, wanted: tuple[str, ...]) -> str:
    """The lines about the wanted metrics: node_exporter's page is a thousand lines, the parser pure Python, and
    a scrape should cost a few ms of CPU, not tens."""
    keep = []
    for line in text.splitlines():
        if line.startswith("#"):
            parts = line.split(None, 3)
            name = parts[2] if len(parts) > 2 else ""
        else:
            name = line.partition("{")[0].partition(" ")[0]
        if name.startswith(wanted) or f"{name}_total".startswith(wanted):
            keep.append(line)
    keep.append("")
    return "\n".join(keep)


def one(reading: Reading, name: str) -> float | None:
    """The value of a metric with a single series (node_load1), or None."""
    series = reading.get(name)
    if not series:
        return None
    return next(iter(series.values()))
