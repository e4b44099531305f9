"""The wait sampler's read schedule (probes/threads.py Calendar): parked threads are read rarely, and the weighted
reads still give the right shares per class, per thread and in total (issue 28)."""

from __future__ import annotations

import os
import random
import time
from collections import Counter

from bottlenecktop.probes.sockmap import Endpoint
from bottlenecktop.probes.threads import WaitSampler, _Window
from bottlenecktop.probes.wait_schedule import Calendar, period_cap

PER_ROUND = 100.0  # reads a round affords (the sampler derives it from the budget and the measured read cost)


class _Thread:
    """A synthetic thread: its wait class each round, from a fixed kind."""

    def __init__(self, kind: str, rng: random.Random) -> None:
        self.kind = kind
        self.rng = rng
        self.state = {"futex": "futex", "sleep": "sleep", "socket": "socket", "busy": "running",
                      "bursty": "sleep"}[kind]

    def step(self) -> str:
        if self.kind == "busy":  # a worker that runs and takes a contended lock: changes every round
            self.state = "running" if self.rng.random() < 0.7 else "futex"
        elif self.kind == "bursty":  # long sleeps, short bursts: runs 20 % of the time
            if self.state == "sleep" and self.rng.random() < 0.05:
                self.state = "running"
            elif self.state == "running" and self.rng.random() < 0.2:
                self.state = "sleep"
        return self.state


_Run = tuple[Counter[str], dict[str, float], list[int], dict[int, Counter[str]], dict[int, Counter[str]],
             list["_Thread"], int]


def _simulate(mix: dict[str, int], rounds: int, seed: int = 7) -> _Run:
    """(true thread-rounds per class, weighted reads per class, reads per round, the same two per thread, the
    threads, the longest gap between two reads of a thread)."""
    rng = random.Random(seed)
    threads = [_Thread(kind, rng) for kind, n in mix.items() for _ in range(n)]
    cal: Calendar[int] = Calendar(random.Random(seed + 1))
    cap = period_cap(len(threads), 0, PER_ROUND)
    for i in range(len(threads)):
        cal.add(i, cap)
    truth: Counter[str] = Counter()
    est: dict[str, float] = {}
    per_thread_truth: dict[int, Counter[str]] = {i: Counter() for i in range(len(threads))}
    per_thread_est: dict[int, Counter[str]] = {i: Counter() for i in range(len(threads))}
    last_line: dict[int, str] = {}
    last_read: dict[int, int] = {}
    reads_per_round: list[int] = []
    longest_gap = 0
    for _ in range(rounds):
        states = [t.step() for t in threads]
        for i, s in enumerate(states):
            truth[s] += 1
            per_thread_truth[i][s] += 1
        cap = period_cap(len(cal), cal.hot, PER_ROUND)
        batch = cal.advance()
        reads_per_round.append(len(batch))
        for i, weight in batch:
            s = states[i]
            est[s] = est.get(s, 0.0) + weight
            per_thread_est[i][s] += weight
            # as WaitSampler._read_thread: running is never stable; the first read keeps its period
            stable = s != "running" and (last_line.get(i) in (None, s))
            last_line[i] = s
            if i in last_read:
                longest_gap = max(longest_gap, cal.round - last_read[i])
            last_read[i] = cal.round
            cal.reschedule(i, stable, cap)
    return truth, est, reads_per_round, per_thread_truth, per_thread_est, threads, longest_gap


def test_period_cap_reads_everything_when_few_threads_and_spreads_many() -> None:
    assert period_cap(50, 0, PER_ROUND) == 1
    assert period_cap(3000, 0, PER_ROUND) == 32
    assert period_cap(10_000, 0, PER_ROUND) == 64  # MAX_PERIOD: beyond it the pause between rounds stretches
    assert period_cap(3000, 90, PER_ROUND) == 64  # the moving threads take the room first
    assert period_cap(10_000, 5000, PER_ROUND, max_period=16) == 16


def test_a_known_mix_of_2000_threads_is_reported_in_the_right_proportions() -> None:
    mix = {"futex": 1000, "sleep": 500, "socket": 300, "busy": 50, "bursty": 150}
    rounds = 2000
    truth, est, per_round, pt_truth, pt_est, threads, longest_gap = _simulate(mix, rounds)
    n = len(threads)
    total_truth = sum(truth.values())
    total_est = sum(est.values())
    assert abs(total_est / rounds - n) / n < 0.02, total_est / rounds  # threads per round, from weighted reads
    for cls in ("futex", "sleep", "socket", "running"):
        share, want = est.get(cls, 0.0) / total_est, truth[cls] / total_truth
        assert abs(share - want) < 0.01, (cls, share, want)
    # far fewer reads than threads: the parked ones are read about once every cap rounds
    mean_reads = sum(per_round[100:]) / len(per_round[100:])
    assert mean_reads < 0.15 * n, mean_reads
    # every thread is seen over a window: within two intervals of the longest period
    assert longest_gap <= 2 * 64, longest_gap
    # per thread: the moving workers are read every round and their own shares are right
    busy = [i for i, t in enumerate(threads) if t.kind == "busy"]
    for i in busy:
        got = pt_est[i]["running"] / sum(pt_est[i].values())
        want = pt_truth[i]["running"] / rounds
        assert abs(got - want) < 0.06, (i, got, want)
    # bursty threads: read rarely while asleep, yet their running share is unbiased (pooled over the pool)
    bursty = [i for i, t in enumerate(threads) if t.kind == "bursty"]
    got = sum(pt_est[i]["running"] for i in bursty) / sum(sum(pt_est[i].values()) for i in bursty)
    want = sum(pt_truth[i]["running"] for i in bursty) / (rounds * len(bursty))
    assert abs(got - want) < 0.02, (got, want)
    # and a parked thread's own share is exact: it is always in the same wait
    parked = next(i for i, t in enumerate(threads) if t.kind == "socket")
    assert set(pt_est[parked]) == {"socket"}


def test_a_small_target_is_read_every_round_with_weight_one() -> None:
    cal: Calendar[int] = Calendar(random.Random(1))
    for i in range(20):
        cal.add(i)
    for _ in range(10):
        batch = cal.advance()
        assert sorted(batch) == [(i, 1) for i in range(20)]
        for i, _w in batch:
            cal.reschedule(i, True, period_cap(20, cal.hot, PER_ROUND))


def test_a_removed_thread_is_not_read_again() -> None:
    cal: Calendar[int] = Calendar(random.Random(1))
    cal.add(1)
    cal.add(2)
    cal.remove(2)
    assert [k for k, _ in cal.advance()] == [1]
    cal.reschedule(1, False, 4)
    assert cal.hot == 1 and len(cal) == 1
    cal.remove(1)
    assert cal.hot == 0 and cal.advance() == []


def test_the_window_keeps_the_busiest_threads_as_reads_come() -> None:
    """The window's running top set (take() does not rank every thread) equals a full ranking by busy reads."""
    sampler = WaitSampler(os.getpid(), t0=time.monotonic(), top_threads=8)
    win = _Window(t_start=0.0, cpu_start=0.0)
    rng = random.Random(3)
    busy_reads: Counter[int] = Counter()
    sock = Endpoint("tcp", "downstream", "127.0.0.1:5432")
    for _ in range(5000):
        tid = rng.randrange(1, 300)
        cls = rng.choice(["running", "futex", "sleep", "idle", "socket"])
        row = (1, tid, cls, "", None if cls == "running" else "x", (sock,) if cls == "socket" else (), False)
        sampler._add(win, row, rng.choice([1, 2, 8]))
        if cls in ("running", "futex", "socket"):
            busy_reads[tid] += 2 if cls == "running" else 1
    win.sweeps, win.threads_n = 10.0, 10.0 * 299
    sample = sampler._summarise(win, 1.0)
    got = sorted(busy_reads[t.tid] for t in sample.top_threads)
    assert got == sorted(busy_reads.values())[-8:]
    assert abs(sum(sample.waits.values()) - 100.0) < 0.5
    assert sample.threads == 299.0 and sample.sweeps == 10
    assert sample.peers and sample.peers[0].peer == "127.0.0.1:5432"
    assert abs(sample.peers[0].threads - 299 * sample.waits["socket"] / 100) < 1.0
