"""Which threads the kernel wait sampler reads in each round, and what each read weighs (stratified sampling in
time), and the pacing of its periodic housekeeping: the part of probes/threads.py that keeps its cost flat at any
thread count."""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

MAX_PERIOD = 64  # rounds: a parked thread is read at least once in 2 * MAX_PERIOD rounds (about 25 s at 5 Hz)

K = TypeVar("K", bound=Hashable)


class Calendar(Generic[K]):
    """Which threads each round reads, and what each read weighs.

    Every thread's time is cut into consecutive intervals of P rounds (P a power of two). The thread is read once
    per interval, at a round drawn uniformly within it, and that read weighs P. Because P is chosen before its
    interval starts (from earlier reads only) and the read lands anywhere in it with probability 1/P per round,
    the weighted count of reads in any class is an unbiased count of thread-rounds in that class: the fractions
    of time per class stay right while parked threads are read rarely. A round's work is the threads due in it
    (a dict of round -> keys), never a pass over all threads.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self.round = 0
        self.hot = 0  # threads whose last read saw them running or in a new call
        self._rng = rng or random.Random()
        self._due: dict[int, list[K]] = {}
        self._slot: dict[K, list[int]] = {}  # key -> [round of its read, interval start, period, hot 0/1]

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, key: object) -> bool:
        return key in self._slot

    def __iter__(self) -> Iterator[K]:
        return iter(self._slot)

    def add(self, key: K, period: int = 1) -> None:
        """A new thread, first read within the next PERIOD rounds."""
        if key in self._slot:
            return
        start = self.round + 1
        at = start + (self._rng.randrange(period) if period > 1 else 0)
        self._slot[key] = [at, start, period, 0]
        self._due.setdefault(at, []).append(key)

    def remove(self, key: K) -> None:
        slot = self._slot.pop(key, None)
        if slot is not None:
            self.hot -= slot[3]  # its entry in _due is skipped when its round comes

    def advance(self) -> list[tuple[K, int]]:
        """Start the next round: the (key, weight) of the threads to read in it. Each must then be
        ``reschedule``d or ``remove``d."""
        self.round += 1
        out: list[tuple[K, int]] = []
        for key in self._due.pop(self.round, ()):
            slot = self._slot.get(key)
            if slot is not None and slot[0] == self.round:
                out.append((key, slot[2]))
        return out

    def reschedule(self, key: K, stable: bool, cap: int, moving: int = 1, first: bool = False) -> None:
        """After KEY's read in this round: its next interval starts where this one ends. A thread seen in the
        same call as at its last two reads gets twice the period (up to CAP); one that just moved, or moved the
        read before (a worker between a lock and its work can look parked once), a period of MOVING (1 unless
        even the moving threads are more than a round affords). A FIRST read that found it parked goes straight to
        CAP: the first pass over 10,000 threads is not followed by passes at 2, 4, 8 ... rounds."""
        slot = self._slot.get(key)
        if slot is None:
            return
        _at, start, period, hot = slot
        nxt = (cap if first else min(period * 2, cap)) if stable and not hot else moving
        nxt = max(1, nxt)
        begin = start + period  # > this round: the read was within [start, start + period)
        at = begin + (self._rng.randrange(nxt) if nxt > 1 else 0)
        now_hot = 0 if stable else 1
        self.hot += now_hot - hot
        slot[0], slot[1], slot[2], slot[3] = at, begin, nxt, now_hot
        self._due.setdefault(at, []).append(key)


def moving_period(hot: int, reads_per_round: float, max_period: int = MAX_PERIOD) -> int:
    """The period (a power of two) of the threads that move: 1 unless there are more than a round affords (10,000
    threads that all run), so that a round stays within the budget whatever the threads do."""
    period = 1
    while period * reads_per_round < hot and period < max_period:
        period *= 2
    return period


def period_cap(threads: int, hot: int, reads_per_round: float, max_period: int = MAX_PERIOD) -> int:
    """The longest period (a power of two) that parked threads need so that a round reads about
    READS_PER_ROUND threads: the HOT ones every round, the rest spread over the cap."""
    cold = max(0, threads - hot)
    room = max(1.0, reads_per_round - hot)
    need = cold / room
    cap = 1
    while cap < need and cap < max_period:
        cap *= 2
    return cap


@dataclass
class Pace:
    """A periodic job that runs at most as often as its measured CPU cost allows within SHARE of the budget."""

    share: float
    every_s: float = 0.0
    at: float = -1e9
    cost_s: float = 0.0  # smoothed CPU seconds per run

    def due(self, now: float, budget: float) -> bool:
        return now - self.at >= max(self.every_s, self.cost_s / max(1e-9, self.share * budget))

    def ran(self, now: float, spent: float) -> None:
        self.at = now
        self.cost_s = spent if self.cost_s == 0.0 else 0.5 * self.cost_s + 0.5 * spent
