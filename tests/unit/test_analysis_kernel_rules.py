"""The rules judged from what the kernel says (waits, tcp_info peers, cgroup), on synthetic timelines: the class
comes from the kernel whatever the Python stacks call it; scopes name the other end; quotas, leaks and the knee."""

from __future__ import annotations

from typing import Any

import msgspec

from bottlenecktop.analysis.verdict import build_verdict
from bottlenecktop.verdict_types import Verdict
from tests.support.timeline_builder import (
    PID,
    TimelineBuilder,
    cgroup,
    driver,
    header,
    load,
    node,
    peers,
    proc,
    stacks,
    waits,
)
from tests.support.verdict_shape import verdict_problems

PG = "127.0.0.1:5432"
REDIS = "127.0.0.1:6379"
PORT = 8000


def _ramp(b: TimelineBuilder, rates: list[float], limit: float, p99_past: float = 900.0, **parts: Any) -> None:
    """Steps at ``rates``; those above ``limit`` achieve only ``limit`` with a p99 past the SLO."""
    for rate in rates:
        if rate <= limit:
            b.step(rate, p99=20, **parts)
        else:
            b.step(rate, achieved=limit, p99=p99_past, **parts)
    b.outcome(limit, p99=20, reason="p99")


def _check(v: Verdict) -> dict:
    out = v.to_json_dict()
    assert verdict_problems(out) == []
    return out


def test_threads_blocked_on_a_postgres_socket_are_downstream_even_where_python_says_wait() -> None:
    # psycopg's Connection.wait: py-spy's line regex calls it a lock; the kernel says a poll on a socket to PG.
    spy = stacks([(f"w{k}", 50, {"lock": 95.0}, "Connection.wait (psycopg/connection.py:495)") for k in range(16)])
    b = TimelineBuilder(header(ncpu=2))
    parts: dict[str, Any] = dict(node=node(busy=25, ncpu=2), target=proc(cpu=25),
                 waits=waits(threads=21, socket=16, futex=4, idle=1, peers=[(PG, "downstream", 16.0)]),
                 peers=peers([(PG, 16, 2)], [(PORT, 100, 40)], owners={PG: (812, "postgres")}), stacks=spy)
    _ramp(b, [70, 105, 158, 236], limit=200, **parts)
    v = _check(build_verdict(b.header, b.frames))
    neck = v["bottleneck"]
    assert neck["resource"] == "downstream", neck
    assert neck["scope"] == f"postgres pid 812 at {PG}"
    text = " ".join(neck["evidence"])
    assert "Little's law" in text and "Connection.wait" in text
    assert not any(f["resource"] == "lock" for f in v["findings"]), v["findings"]


def test_without_kernel_waits_the_stack_classes_still_decide() -> None:
    spy = stacks([(f"w{k}", 50, {"client": 90.0}, "HTTPConnection.getresponse (http/client.py:1)") for k in range(8)])
    b = TimelineBuilder(header(ncpu=2))
    _ramp(b, [70, 105, 158, 236], limit=160, node=node(busy=20, ncpu=2), target=proc(cpu=20), stacks=spy)
    neck = _check(build_verdict(b.header, b.frames))["bottleneck"]
    assert neck["resource"] == "downstream" and neck["scope"] == f"pid {PID}"


def test_an_event_loop_idle_in_epoll_waits_on_requests_outstanding_downstream() -> None:
    b = TimelineBuilder(header(ncpu=2))
    parts: dict[str, Any] = dict(node=node(busy=20, ncpu=2), target=proc(cpu=15, threads=[("python3", 15.0)]),
                 waits=waits(threads=2, idle=2), peers=peers([("127.0.0.1:9100", 8, 8)], [(PORT, 60, 30)]))
    _ramp(b, [70, 105, 158, 236], limit=200, **parts)
    neck = _check(build_verdict(b.header, b.frames))["bottleneck"]
    assert neck["resource"] == "downstream", neck
    assert neck["scope"] == "127.0.0.1:9100"
    assert any("outstanding" in e for e in neck["evidence"]), neck["evidence"]


def test_a_local_redis_at_a_full_core_is_named_with_its_one_thread() -> None:
    b = TimelineBuilder(header(ncpu=2))
    redis = proc(pid=812, cpu=99, threads=[("redis-server", 99.0), ("bio_close_file", 0.0)], name="redis-server")
    parts: dict[str, Any] = dict(node=node(busy=70, ncpu=2), target=proc(cpu=40),
                 waits=waits(threads=9, socket=8, running=1, peers=[(REDIS, "downstream", 8.0)]),
                 peers=peers([(REDIS, 8, 3)], [(PORT, 40, 20)], owners={REDIS: (812, "redis-server")}),
                 peer_procs=[redis])
    _ramp(b, [70, 105, 158, 236], limit=200, **parts)
    neck = _check(build_verdict(b.header, b.frames))["bottleneck"]
    assert neck["resource"] == "downstream"
    assert neck["scope"] == f"redis-server pid 812 at {REDIS}: its one thread at 99 % of one core"


def test_futex_waits_that_grow_with_the_requests_in_progress_are_contention() -> None:
    b = TimelineBuilder(header(ncpu=4))
    busy: dict[str, Any] = dict(node=node(busy=30, ncpu=4),
                                target=proc(cpu=60, threads=[(f"t{k}", 4.0) for k in range(15)]))
    # A pool of 2 threads waits for work at any load; past the knee 12 more queue on the lock behind the holder.
    b.step(100, p99=20, waits=waits(threads=16, futex=2, running=1, idle=13), peers=peers([], [(PORT, 8, 2)]),
           **busy)
    b.step(150, p99=20, waits=waits(threads=16, futex=6, running=1, idle=9), peers=peers([], [(PORT, 16, 6)]),
           **busy)
    for rate in (225, 340):
        b.step(rate, achieved=200, p99=900, waits=waits(threads=16, futex=14, running=1, idle=1),
               peers=peers([], [(PORT, 64, 40)]), **busy)
    b.outcome(200, p99=20, reason="p99")
    neck = _check(build_verdict(b.header, b.frames))["bottleneck"]
    assert neck["resource"] == "lock" and neck["scope"] == f"pid {PID}", neck
    assert any("in progress at the listener" in e for e in neck["evidence"]), neck["evidence"]


def test_a_pool_on_futex_at_any_load_is_idle_not_a_lock() -> None:
    # uvicorn's anyio worker threads: 4 on a futex from the first step to the last, whatever the load.
    b = TimelineBuilder(header(ncpu=2))
    parts: dict[str, Any] = dict(node=node(busy=30, ncpu=2), target=proc(cpu=35),
                 waits=waits(threads=5, futex=4, idle=1), peers=peers([], [(PORT, 60, 30)]))
    _ramp(b, [70, 105, 158, 236], limit=190, **parts)
    v = _check(build_verdict(b.header, b.frames))
    assert not any(f["resource"] == "lock" for f in v["findings"]), v["findings"]


def test_an_idle_pool_on_futex_with_few_requests_in_progress_is_not_a_lock() -> None:
    b = TimelineBuilder(header(ncpu=4))
    parts: dict[str, Any] = dict(node=node(busy=10, ncpu=4), target=proc(cpu=10),
                 waits=waits(threads=16, futex=15, running=1), peers=peers([], [(PORT, 4, 1)]))
    for rate in (50, 75, 110):
        b.step(rate, **parts)
    b.outcome(110, reason="max-rps")
    v = _check(build_verdict(b.header, b.frames))
    assert v["bottleneck"]["resource"] == "none"
    assert not any(f["resource"] == "lock" for f in v["findings"])


def test_futex_waits_that_python_calls_queue_get_are_an_idle_pool() -> None:
    spy = stacks([(f"w{k}", 50, {"select": 95.0}, "Queue.get (queue.py:171)") for k in range(14)])
    b = TimelineBuilder(header(ncpu=4))
    parts: dict[str, Any] = dict(node=node(busy=30, ncpu=4), target=proc(cpu=30), stacks=spy,
                 waits=waits(threads=16, futex=14, running=1, idle=1), peers=peers([], [(PORT, 64, 40)]))
    _ramp(b, [100, 150, 225, 340], limit=200, **parts)
    v = _check(build_verdict(b.header, b.frames))
    assert not any(f["resource"] == "lock" for f in v["findings"]), v["findings"]


def test_a_target_throttled_by_its_quota_is_cpu_with_the_cgroup_as_scope_on_an_idle_node() -> None:
    b = TimelineBuilder(header(ncpu=2))
    parts: dict[str, Any] = dict(node=node(busy=30, ncpu=2), target=proc(cpu=49),
                                 cgroup=cgroup("/bttest-7-1", 0.5, 0.49, 70.0))
    _ramp(b, [18, 27, 40, 60], limit=50, **parts)
    neck = _check(build_verdict(b.header, b.frames))["bottleneck"]
    assert neck["resource"] == "cpu"
    assert neck["scope"] == "cgroup /bttest-7-1 (quota 0.5 CPU)"
    assert "throttled in 70 % of its periods" in neck["evidence"][0]


def test_a_quota_with_room_left_says_nothing() -> None:
    b = TimelineBuilder(header(ncpu=2))
    for rate in (18, 27, 40):
        b.step(rate, node=node(busy=10, ncpu=2), target=proc(cpu=20), cgroup=cgroup(usage=0.2, throttled=0.0))
    b.outcome(40, reason="max-rps")
    v = _check(build_verdict(b.header, b.frames))
    assert v["bottleneck"]["resource"] == "none" and v["findings"] == []


def _leaking(b: TimelineBuilder, rate: float, seconds: int, kept: int, avail_pct: float = 50.0,
             **parts: Any) -> None:
    """Ticks at ``rate`` req/s whose target keeps ``kept`` bytes per completed request."""
    rss = 100 * 2**20 + (int(b.frames[-1].target.rss) - 100 * 2**20 if b.frames and b.frames[-1].target else 0)
    for _ in range(seconds):
        rss += int(rate * kept)
        b.tick(load=load(rate, p99=10), node=node(busy=40, ncpu=2, avail_pct=avail_pct),
               target=proc(cpu=60, rss=rss, rss_growth=rate * kept), **parts)


def test_a_leak_that_exhausts_memory_within_the_horizon_is_memory_and_sustainable_for_n_s() -> None:
    b = TimelineBuilder(header(ncpu=2))
    for rate in (60, 90, 135, 200):
        _leaking(b, rate, 5, 256 * 1024)
    b.outcome(200, p99=10, reason="max-rps")
    v = _check(build_verdict(b.header, b.frames))
    neck = v["bottleneck"]
    assert neck["resource"] == "memory" and neck["scope"] == f"pid {PID}", neck
    assert "keeps 256 KiB per completed request" in neck["evidence"][0]
    room = 4 * 2**30  # 50 % of the builder's 8 GiB
    assert v["capacity"]["sustainable_for_s"] == round(room / (256 * 1024 * 200))
    longer = build_verdict(b.header, b.frames, horizon_s=60.0).to_json_dict()
    assert longer["bottleneck"]["resource"] != "memory"
    assert longer["capacity"]["sustainable_for_s"] == v["capacity"]["sustainable_for_s"]


def test_a_leak_is_judged_against_the_cgroup_memory_limit_when_it_is_nearer() -> None:
    b = TimelineBuilder(header(ncpu=2))
    for rate in (60, 90, 135):
        _leaking(b, rate, 5, 64 * 1024, cgroup=cgroup(quota=None, usage=0.3, throttled=0.0,
                                                       memory_limit=2**30, memory_usage=2**29))
    b.outcome(135, p99=10, reason="max-rps")
    v = _check(build_verdict(b.header, b.frames))
    assert v["bottleneck"]["resource"] == "memory"
    assert v["capacity"]["sustainable_for_s"] == round(2**29 / (64 * 1024 * 135))
    assert any("memory limit of cgroup /bttest-1" in e for e in v["bottleneck"]["evidence"])


def test_rss_that_grows_while_warming_up_and_then_stays_is_no_leak() -> None:
    b = TimelineBuilder(header(ncpu=2))
    _leaking(b, 100, 5, 256 * 1024)
    _leaking(b, 150, 10, 0)
    b.outcome(150, p99=10, reason="max-rps")
    v = _check(build_verdict(b.header, b.frames))
    assert v["capacity"]["sustainable_for_s"] is None and v["bottleneck"]["resource"] != "memory"


def test_the_live_screen_cpu_demo_ends_naming_cpu_at_the_knee() -> None:
    # The live run that ended "none": achieved 256 of 383 offered, p99 1.1 s, the node 75-90 % busy (the screen
    # and the driver half a core of it), PSI some 30-67 %, the target flat at 130-140 % of 200 %.
    def target(cores: float) -> object:
        # the cpu kind: worker processes sharing one port
        return proc(cpu=cores, threads=[("python3", cores / 2), ("python3", cores / 2)], children=2)

    b = TimelineBuilder(header(ncpu=2))
    # The screen is bottlenecktop's own process: with the driver 0.85 cores of observer, taken out of the node.
    obs: dict[str, Any] = dict(driver=driver(cpu=30), self_proc=proc(pid=99, cpu=55, name="bottlenecktop"))
    b.step(113, p99=30, node=node(busy=45, ncpu=2, psi=5, runq=1), target=target(70), **obs)
    b.step(170, p99=60, node=node(busy=60, ncpu=2, psi=8, runq=2), target=target(110), **obs)
    b.step(255, p99=120, node=node(busy=75, ncpu=2, psi=30, runq=3), target=target(132), **obs)
    b.step(383, achieved=256, p99=1100, node=node(busy=80, ncpu=2, psi=60, runq=4), target=target(138), **obs)
    b.step(300, achieved=257, p99=800, node=node(busy=78, ncpu=2, psi=50, runq=4), target=target(136),
           phase="searching", **obs)
    b.outcome(255, p99=120, reason="p99")
    v = _check(build_verdict(b.header, b.frames))
    neck = v["bottleneck"]
    assert neck["resource"] == "cpu", (neck, v["findings"])
    assert 0 < neck["confidence"] <= 0.5
    assert any(e.startswith("missing: ") for e in neck["evidence"]), neck["evidence"]
    assert any("PSI cpu some rose from 30 % to" in e for e in neck["evidence"]), neck["evidence"]


def test_a_target_that_sheds_load_on_purpose_is_none() -> None:
    b = TimelineBuilder(header(ncpu=2))
    b.step(100, node=node(busy=20, ncpu=2), target=proc(cpu=30))
    b.step(150, achieved=100, p99=5, errors={"http_5xx": 50}, node=node(busy=22, ncpu=2), target=proc(cpu=31))
    b.step(225, achieved=100, p99=5, errors={"http_5xx": 125}, node=node(busy=22, ncpu=2), target=proc(cpu=31))
    b.outcome(100, p99=5, reason="errors")
    v = _check(build_verdict(b.header, b.frames))
    assert v["overload"]["behaviour"] == "shed"
    assert v["bottleneck"]["resource"] == "none"
    assert "sheds load on purpose" in v["bottleneck"]["evidence"][0]


def test_socket_waits_the_kernel_could_not_resolve_fall_back_to_the_stacks() -> None:
    # /proc/PID/mem denied: the threads poll sockets the probe cannot name; py-spy sees a client call.
    spy = stacks([(f"w{k}", 50, {"client": 90.0}, "HTTPConnection.getresponse (http/client.py:1)") for k in range(8)])
    blind = msgspec.structs.replace(waits(threads=8, socket=8), unresolved_pct=100.0)
    b = TimelineBuilder(header(ncpu=2))
    _ramp(b, [70, 105, 158, 236], limit=160, node=node(busy=20, ncpu=2), target=proc(cpu=20), stacks=spy,
          waits=blind)
    neck = _check(build_verdict(b.header, b.frames))["bottleneck"]
    assert neck["resource"] == "downstream" and neck["scope"] == f"pid {PID}"
    seen = msgspec.structs.replace(blind, unresolved_pct=0.0)  # resolved, and no downstream peer: not downstream
    b2 = TimelineBuilder(header(ncpu=2))
    _ramp(b2, [70, 105, 158, 236], limit=160, node=node(busy=20, ncpu=2), target=proc(cpu=20), stacks=spy,
          waits=seen)
    assert _check(build_verdict(b2.header, b2.frames))["bottleneck"]["resource"] != "downstream"


def test_an_idle_loop_with_requests_in_progress_waits_on_its_one_downstream_when_tcp_info_reads_none() -> None:
    # Requests queued behind replies on the same keep-alive connections read as answered (lastrcv newest).
    b = TimelineBuilder(header(ncpu=2))
    parts: dict[str, Any] = dict(node=node(busy=20, ncpu=2), target=proc(cpu=5, threads=[("python3", 5.0)]),
                                 waits=waits(threads=2, idle=1, other=1),
                                 peers=peers([("127.0.0.1:9100", 4, 0)], [(PORT, 90, 40)]))
    _ramp(b, [70, 105, 158, 236], limit=200, **parts)
    neck = _check(build_verdict(b.header, b.frames))["bottleneck"]
    assert neck["resource"] == "downstream" and neck["scope"] == "127.0.0.1:9100", neck
    assert any("read as answered" in e for e in neck["evidence"]), neck["evidence"]
    # The same loop with no request in progress is just idle.
    quiet = TimelineBuilder(header(ncpu=2))
    for rate in (5, 8):
        quiet.step(rate, **{**parts, "peers": peers([("127.0.0.1:9100", 4, 0)], [(PORT, 1, 0)])})
    quiet.outcome(8, reason="max-rps")
    assert _check(build_verdict(quiet.header, quiet.frames))["bottleneck"]["resource"] == "none"


def test_threads_in_d_state_are_disk_for_any_language() -> None:
    b = TimelineBuilder(header(ncpu=2))
    parts: dict[str, Any] = dict(node=node(busy=15, ncpu=2, psi_io=5), target=proc(cpu=10, name="java"),
                                 waits=waits(threads=10, disk=7, running=1, idle=2))
    _ramp(b, [70, 105, 158, 236], limit=160, **parts)
    neck = _check(build_verdict(b.header, b.frames))["bottleneck"]
    assert neck["resource"] == "disk" and neck["scope"] == f"pid {PID}", neck
    assert any("D state or fsync" in e for e in neck["evidence"]), neck["evidence"]


def test_a_local_redis_starved_of_cpu_says_its_thread_waits_for_one() -> None:
    b = TimelineBuilder(header(ncpu=2))
    redis = msgspec.structs.replace(
        proc(pid=812, cpu=55, threads=[("redis-server", 55.0), ("bio_close_file", 0.0)], name="redis-server"),
        run_delay_ms=420.0)
    parts: dict[str, Any] = dict(node=node(busy=60, ncpu=2), target=proc(cpu=15),
                                 waits=waits(threads=9, socket=8, running=1, peers=[(REDIS, "downstream", 8.0)]),
                                 peers=peers([(REDIS, 8, 3)], [(PORT, 40, 20)], owners={REDIS: (812, "redis-server")}),
                                 peer_procs=[redis])
    _ramp(b, [35, 52, 78, 117], limit=100, **parts)
    neck = _check(build_verdict(b.header, b.frames))["bottleneck"]
    assert neck["scope"] == (f"redis-server pid 812 at {REDIS}: its one thread at 55 % of one core, waiting 420 ms "
                             "per second for a CPU"), neck


def test_futex_waits_for_the_gil_are_not_a_lock_of_the_program() -> None:
    # Threads waiting for the GIL sleep on a futex; py-spy shows them at their Python line, not in an acquire.
    spy = stacks([(f"w{k}", 50, {}, "") for k in range(8)], gil=95.0)
    b = TimelineBuilder(header(ncpu=4))
    growing = [waits(threads=9, futex=n, running=1, idle=8 - n) for n in (0, 3, 7, 7)]
    for rate, w in zip([45, 67, 100, 150], growing, strict=True):
        got = min(rate, 90)
        b.step(rate, achieved=got, p99=20 if rate <= 90 else 900, stacks=spy, waits=w,
               peers=peers([], [(PORT, 40, 20)]), node=node(busy=28, ncpu=4),
               target=proc(cpu=100, threads=[(f"w{k}", 12.0) for k in range(8)], num_threads=9))
    b.outcome(90, p99=20, reason="p99")
    v = _check(build_verdict(b.header, b.frames))
    assert not any(f["resource"] == "lock" for f in v["findings"]), v["findings"]


def test_a_local_redis_is_judged_at_the_spans_top_load_not_its_mean_over_the_ramp() -> None:
    # redis-server's one thread works 10 ms per call: its CPU follows the rate up to a core at 100 req/s. The span
    # of blocked threads starts low in the ramp, where it was at 35-52 %: the mean over the span is under 85 %.
    b = TimelineBuilder(header(ncpu=2))
    limit = 100.0
    for rate in (35, 52, 78, 117, 117):
        got = min(rate, limit)
        redis = proc(pid=812, cpu=got * 0.99, threads=[("redis-server", got * 0.99), ("bio_close_file", 0.0)],
                     name="redis-server")
        b.step(rate, achieved=got, p99=20 if rate <= limit else 900, node=node(busy=60, ncpu=2),
               target=proc(cpu=15), waits=waits(threads=9, socket=8, running=1, peers=[(REDIS, "downstream", 8.0)]),
               peers=peers([(REDIS, 8, 3)], [(PORT, 40, 20)], owners={REDIS: (812, "redis-server")}),
               peer_procs=[redis])
    b.outcome(limit, p99=20, reason="p99")
    neck = _check(build_verdict(b.header, b.frames))["bottleneck"]
    assert neck["scope"] == f"redis-server pid 812 at {REDIS}: its one thread at 99 % of one core", neck
    assert any("redis-server) 99 %, at 100 req/s" in e for e in neck["evidence"]), neck["evidence"]
