"""Raw measurements of one window (a second, or a judged part of a step) and their summary.

The hot path only appends integers to lists (about 50 ns each); the histogram is built once per window from
counted values, because ``HdrHistogram.record_value`` costs about 1.5 us per call in Python.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from bottlenecktop.probes.samples import ERROR_CLASSES

# Latency histograms hold microseconds from 1 us to one hour with 3 significant digits.
HIST_LOWEST_US = 1
HIST_HIGHEST_US = 3_600_000_000
HIST_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_LOWEST_US, HIST_HIGHEST_US, HIST_DIGITS)


def histogram_of(values_us: list[int]) -> HdrHistogram:
    """An HdrHistogram of microsecond values (clamped into the trackable range)."""
    hist = new_histogram()
    for value, count in Counter(values_us).items():
        hist.record_value(min(max(value, HIST_LOWEST_US), HIST_HIGHEST_US), count)
    return hist


def decode_histogram(encoded: str) -> HdrHistogram:
    """The inverse of ``LoadSecond.hist``: a mergeable histogram of latencies in microseconds."""
    return HdrHistogram.decode(encoded.encode("ascii"))


@dataclass
class Percentiles:
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    max_ms: float = 0.0


def percentiles(hist: HdrHistogram) -> Percentiles:
    """p50/p90/p99/p99.9/max of a microsecond histogram, in milliseconds (zeros when empty)."""
    if hist.get_total_count() == 0:
        return Percentiles()
    values = hist.get_percentile_to_value_dict([50.0, 90.0, 99.0, 99.9])
    return Percentiles(
        values[50.0] / 1000.0,
        values[90.0] / 1000.0,
        values[99.0] / 1000.0,
        values[99.9] / 1000.0,
        hist.get_max_value() / 1000.0,
    )


def p99_ms(values_us: list[int]) -> float:
    if not values_us:
        return 0.0
    ordered = sorted(values_us)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000.0


@dataclass
class Tally:
    """What happened in one window. Latencies are microseconds; ``lat`` counts from the intended send time."""

    started: float  # time.monotonic() of the window start
    offered: int = 0  # requests whose intended send time fell in the window
    sent: int = 0
    completed: int = 0
    ok: int = 0
    bytes_in: int = 0
    late: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lat: list[int] = field(default_factory=list)
    svc: list[int] = field(default_factory=list)
    lag: list[int] = field(default_factory=list)

    def fail(self, error_class: str) -> None:
        self.completed += 1
        self.errors[error_class] = self.errors.get(error_class, 0) + 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def error_dict(self) -> dict[str, int]:
        """Counts by class in ERROR_CLASSES order, zero classes left out."""
        return {name: self.errors[name] for name in ERROR_CLASSES if self.errors.get(name)}
