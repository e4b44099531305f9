"""Raw measurements of the hot path (Tally), the windows they are folded into (Window), and their summary.

The hot path only bumps counters and appends integers to lists (about 50 ns each) in one Tally. Every tenth of
a second the controller takes that Tally and folds it into the windows that want it (this second, the judged
part of the step): each list of microseconds becomes counts per HDR bucket, computed here in bulk from a
``Counter`` (C) over the distinct values, because ``HdrHistogram.record_value`` costs about 1.5 us per call and
walking its 45,000 counters for a percentile about 10 ms. The raw lists never outgrow a tenth of a second.
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
# The bucket layout HdrHistogram uses for those settings (unit magnitude 0): 2048 sub-buckets, half of them
# per bucket after the first; values below 2048 us are counted exactly.
_SUB_BITS = 11
_HALF_BITS = _SUB_BITS - 1
_HALF = 1 << _HALF_BITS
_EXACT_BELOW = 1 << _SUB_BITS
LAG_RESOLUTION_US = 100


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_LOWEST_US, HIST_HIGHEST_US, HIST_DIGITS)


def bucket_index(value_us: int) -> int:
    """HdrHistogram's counts index of a value (clamped into the trackable range)."""
    v = min(max(value_us, HIST_LOWEST_US), HIST_HIGHEST_US)
    if v < _EXACT_BELOW:
        return v
    shift = v.bit_length() - _SUB_BITS
    return ((shift + 1) << _HALF_BITS) + (v >> shift) - _HALF


def bucket_highest_us(index: int) -> int:
    """The highest value counted at ``index`` (what HdrHistogram reports for a percentile)."""
    shift = (index >> _HALF_BITS) - 1
    if shift < 0:
        return index
    lowest = ((index & (_HALF - 1)) + _HALF) << shift
    return lowest + (1 << shift) - 1


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


class Counts:
    """Microsecond values as counts per HDR bucket (sparse): mergeable, cheap to fill in bulk."""

    __slots__ = ("buckets", "max_us", "min_us", "total")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.total = 0
        self.min_us = 0
        self.max_us = 0

    def add(self, values_us: list[int]) -> None:
        if not values_us:
            return
        buckets = self.buckets
        get = buckets.get
        lo = min(max(min(values_us), HIST_LOWEST_US), HIST_HIGHEST_US)
        hi = min(max(max(values_us), HIST_LOWEST_US), HIST_HIGHEST_US)
        # bucket_index inlined: this loop runs once per distinct value, thousands of times a tick at 50k req/s.
        for i, count in Counter(values_us).items():
            if i >= _EXACT_BELOW:
                if i > HIST_HIGHEST_US:
                    i = HIST_HIGHEST_US
                shift = i.bit_length() - _SUB_BITS
                i = ((shift + 1) << _HALF_BITS) + (i >> shift) - _HALF
            elif i < HIST_LOWEST_US:
                i = HIST_LOWEST_US
            buckets[i] = get(i, 0) + count
        self.min_us = lo if not self.total else min(self.min_us, lo)
        self.max_us = max(self.max_us, hi)
        self.total += len(values_us)

    def add_counts(self, other: Counts) -> None:
        if not other.total:
            return
        buckets = self.buckets
        for i, count in other.buckets.items():
            buckets[i] = buckets.get(i, 0) + count
        self.min_us = other.min_us if not self.total else min(self.min_us, other.min_us)
        self.max_us = max(self.max_us, other.max_us)
        self.total += other.total

    def values_at(self, quantiles: tuple[float, ...]) -> list[int]:
        """The value (us) at each quantile (0..1, ascending), as HdrHistogram reports it; zeros when empty."""
        if not self.total:
            return [0] * len(quantiles)
        targets = [max(1, int(q * self.total + 0.5)) for q in quantiles]
        out: list[int] = []
        seen = 0
        k = 0
        for i in sorted(self.buckets):
            seen += self.buckets[i]
            while k < len(targets) and seen >= targets[k]:
                out.append(bucket_highest_us(i))
                k += 1
            if k == len(targets):
                break
        return out

    def percentiles(self) -> Percentiles:
        """p50/p90/p99/p99.9/max in milliseconds (zeros when empty)."""
        if not self.total:
            return Percentiles()
        p50, p90, p99, p999 = self.values_at((0.5, 0.9, 0.99, 0.999))
        return Percentiles(p50 / 1000.0, p90 / 1000.0, p99 / 1000.0, p999 / 1000.0,
                           bucket_highest_us(bucket_index(self.max_us)) / 1000.0)

    def p99_ms(self) -> float:
        return self.values_at((0.99,))[0] / 1000.0

    def count_above(self, limit_us: float) -> int:
        """How many values lie above ``limit_us`` (to the histogram's precision)."""
        return sum(count for i, count in self.buckets.items() if bucket_highest_us(i) > limit_us)

    def histogram(self) -> HdrHistogram:
        hist = new_histogram()
        counts = hist.counts
        for i, count in self.buckets.items():
            counts[i] = count
        if self.total:
            hist.total_count = self.total
            hist.min_value = max(self.min_us, HIST_LOWEST_US)
            hist.max_value = min(self.max_us, HIST_HIGHEST_US)
        return hist

    def encoded(self) -> str:
        """HdrHistogram's base64 encoding (V2), empty when there are no values."""
        return self.histogram().encode().decode("ascii") if self.total else ""


def counts_of(values_us: list[int]) -> Counts:
    counts = Counts()
    counts.add(values_us)
    return counts


@dataclass
class Tally:
    """What happened since the controller last looked (a tenth of a second at most): the hot path's only state.

    Latencies are microseconds; ``lat`` counts from the intended send time, ``svc`` from the actual send, ``lag``
    is how late the schedule handed each request over, ``wait`` how long a request that found no free connection
    waited for one. ``lag`` and ``wait`` are rounded down to LAG_RESOLUTION_US: at 50k req/s a pacer tick hands
    over 50 requests with 50 distinct lags, and a tenth of a millisecond is all a judgement of lateness needs.
    """

    offered: int = 0  # requests whose intended send time has come
    sent: int = 0
    completed: int = 0
    ok: int = 0
    bytes_in: int = 0
    late: int = 0  # handed over late by the driver itself (lag over LATE_S)
    waited: int = 0  # sent after waiting for a connection
    waited_late: int = 0  # ... and waited longer than LATE_S: all connections up to the cap were busy
    connects: int = 0  # connections opened
    errors: dict[str, int] = field(default_factory=dict)
    lat: list[int] = field(default_factory=list)
    svc: list[int] = field(default_factory=list)
    lag: list[int] = field(default_factory=list)
    wait: list[int] = field(default_factory=list)

    def fail(self, error_class: str) -> None:
        self.completed += 1
        self.errors[error_class] = self.errors.get(error_class, 0) + 1


@dataclass
class Window:
    """A judged span (a second, or the judged part of a step): Tallies folded in, counters summed."""

    started: float  # time.monotonic() of the window start
    offered: int = 0
    sent: int = 0
    completed: int = 0
    ok: int = 0
    bytes_in: int = 0
    late: int = 0
    waited: int = 0
    waited_late: int = 0
    connects: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lat: Counts = field(default_factory=Counts)
    svc: Counts = field(default_factory=Counts)
    lag: Counts = field(default_factory=Counts)
    wait: Counts = field(default_factory=Counts)

    @classmethod
    def of(cls, tally: Tally, started: float) -> Window:
        """One Tally as a window: its lists counted once, to be merged into every window that wants them."""
        window = cls(started, tally.offered, tally.sent, tally.completed, tally.ok, tally.bytes_in, tally.late,
                     tally.waited, tally.waited_late, tally.connects, dict(tally.errors))
        window.lat.add(tally.lat)
        window.svc.add(tally.svc)
        window.lag.add(tally.lag)
        window.wait.add(tally.wait)
        return window

    def merge(self, other: Window) -> None:
        self.offered += other.offered
        self.sent += other.sent
        self.completed += other.completed
        self.ok += other.ok
        self.bytes_in += other.bytes_in
        self.late += other.late
        self.waited += other.waited
        self.waited_late += other.waited_late
        self.connects += other.connects
        for name, count in other.errors.items():
            self.errors[name] = self.errors.get(name, 0) + count
        self.lat.add_counts(other.lat)
        self.svc.add_counts(other.svc)
        self.lag.add_counts(other.lag)
        self.wait.add_counts(other.wait)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def error_dict(self) -> dict[str, int]:
        """Counts by class in ERROR_CLASSES order, zero classes left out."""
        return {name: self.errors[name] for name in ERROR_CLASSES if self.errors.get(name)}
