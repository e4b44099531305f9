"""The driver's bulk histogram counting gives what HdrHistogram itself gives, value for value."""

from __future__ import annotations

import random

from hdrh.histogram import HdrHistogram

from bottlenecktop.probes.load.stats import (
    HIST_HIGHEST_US,
    Counts,
    Tally,
    Window,
    counts_of,
    decode_histogram,
    new_histogram,
)


def _reference(values: list[int]) -> HdrHistogram:
    hist = new_histogram()
    for value in values:
        hist.record_value(min(max(value, 1), HIST_HIGHEST_US))
    return hist


def _samples(seed: int, n: int) -> list[int]:
    rng = random.Random(seed)
    # Microseconds from sub-millisecond answers to multi-second stalls, plus the edges of the range.
    values = [int(rng.lognormvariate(7.0, 2.0)) for _ in range(n)]
    return [*values, 0, 1, 2047, 2048, 2049, 4095, 4096, 10**9, HIST_HIGHEST_US + 5]


def test_percentiles_and_max_match_hdrhistogram() -> None:
    for seed in range(5):
        values = _samples(seed, 3000)
        ref = _reference(values)
        counts = counts_of(values)
        expected = ref.get_percentile_to_value_dict([50.0, 90.0, 99.0, 99.9])
        got = counts.values_at((0.5, 0.9, 0.99, 0.999))
        assert got == [expected[50.0], expected[90.0], expected[99.0], expected[99.9]]
        assert counts.percentiles().max_ms == ref.get_max_value() / 1000.0
        assert counts.total == ref.get_total_count()


def test_encoding_decodes_to_the_same_histogram() -> None:
    values = _samples(7, 2000)
    ref = _reference(values)
    decoded = decode_histogram(counts_of(values).encoded())
    assert decoded.get_total_count() == ref.get_total_count()
    for index in range(ref.counts_len):
        assert decoded.get_count_at_index(index) == ref.get_count_at_index(index), index
    assert decoded.get_max_value() == ref.get_max_value()
    assert decoded.get_min_value() == ref.get_min_value()


def test_folded_tallies_merge_into_windows_like_one_list() -> None:
    values = _samples(3, 1000)
    first, second = Tally(), Tally()
    first.lat.extend(values[:400])
    second.lat.extend(values[400:])
    first.completed, second.completed = 400, len(values) - 400
    second.fail("timeout")
    window = Window(0.0)
    for tally in (first, second):
        window.merge(Window.of(tally, 0.0))
    whole = counts_of(values)
    assert window.lat.buckets == whole.buckets and window.lat.max_us == whole.max_us
    assert window.completed == len(values) + 1 and window.error_dict() == {"timeout": 1}


def test_count_above_and_empty_counts() -> None:
    assert Counts().percentiles().p99_ms == 0.0 and Counts().encoded() == ""
    counts = counts_of([100, 200, 600_000, 700_000])
    assert counts.count_above(500_000.0) == 2
    assert counts.count_above(50.0) == 4
