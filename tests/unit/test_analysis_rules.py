"""Each USE rule over synthetic timelines: the resource it names, and the edge cases around it."""

from __future__ import annotations

from bottlenecktop.analysis.findings import SATURATED, TARGET_EXIT, WARNING, Finding
from bottlenecktop.analysis.use import find_findings
from bottlenecktop.probes.samples import NetSample, TcpSample
from tests.support.timeline_builder import PID, TimelineBuilder, disk, driver, exit_event, header, node, proc, stacks

IDLE_LOCK = {"lock": 85.0}  # waits of a worker blocked on a semaphore
BUSY = node(busy=20, ncpu=4)


def by_resource(findings: list[Finding]) -> dict[str, Finding]:
    return {f.resource: f for f in findings}


def test_node_cpu_saturated_with_psi_and_run_queue() -> None:
    b = TimelineBuilder(header(ncpu=4))
    b.ticks(3, node=node(busy=20))
    b.ticks(10, node=node(busy=99, psi=35, runq=9), target=proc(cpu=380, children=4))
    found = find_findings(b.header, b.frames)
    assert found[0].resource == "cpu" and found[0].severity == SATURATED and found[0].scope == "node"
    assert found[0].t_start == 3 and found[0].t_end == 13
    text = " ".join(found[0].evidence)
    assert "99 % busy" in text and "PSI cpu some 35 %" in text and "run queue 9.0 on 4 cores" in text


def test_a_lone_spike_is_never_a_finding() -> None:
    b = TimelineBuilder(header(ncpu=4))
    b.ticks(5, node=BUSY)
    b.ticks(1, node=node(busy=100, psi=90, runq=20), target=proc(cpu=100, threads=[("MainThread", 100)]))
    b.ticks(5, node=BUSY)
    b.ticks(4, node=node(busy=100, psi=90, runq=20))  # 4 s < the 5 s window
    assert find_findings(b.header, b.frames) == []


def test_one_missing_tick_does_not_break_a_sustained_window() -> None:
    b = TimelineBuilder(header(ncpu=4))
    hot = node(busy=99, psi=30, runq=8)
    b.ticks(4, node=hot).ticks(1).ticks(4, node=hot)  # the node probe missed one tick
    found = find_findings(b.header, b.frames)
    assert [f.resource for f in found] == ["cpu"]


def test_utilization_alone_is_a_warning_not_saturation() -> None:
    b = TimelineBuilder(header(ncpu=4))
    b.ticks(8, node=node(busy=80, psi=2, runq=2))
    (f,) = find_findings(b.header, b.frames)
    assert f.resource == "cpu" and f.severity == WARNING and f.score < 0.55


def test_the_driver_cpu_is_taken_out_of_the_node() -> None:
    # The node is 80 % busy, but 1.5 of its 2 cores are the driver: the target side is far from saturated.
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(8, node=node(busy=80, ncpu=2, psi=20, runq=3), driver=driver(cpu=150), target=proc(cpu=10))
    found = by_resource(find_findings(b.header, b.frames))
    assert "cpu" not in found
    assert found["load-driver"].severity == SATURATED and found["load-driver"].scope == "driver pid 99"


def test_gil_one_thread_pinned_while_cores_idle() -> None:
    b = TimelineBuilder(header(ncpu=4))
    win = stacks([("MainThread", 500, {}, "")], gil=97, functions=[("render_page (app.py:88)", 80, 95)])
    b.ticks(25, node=node(busy=27, ncpu=4, psi=1), target=proc(cpu=99, threads=[("MainThread", 99), ("t2", 1)]),
            stacks=win)
    f = find_findings(b.header, b.frames)[0]
    assert f.resource == "cpu-thread" and f.scope == f"pid {PID} thread MainThread"
    assert "thread MainThread of pid 4242 at 99 % of one core for 25 s" in f.evidence[0]
    assert "while the node was 27 % busy" in f.evidence[0]
    assert f.evidence[1] == "97 % of samples hold the GIL in render_page (app.py:88)"


def test_gil_shared_by_many_threads_of_one_process() -> None:
    # A thread-per-connection server: no thread is hot, but the process never gets past one core.
    threads = [(f"Thread-{k}", 3.0) for k in range(30)]
    win = stacks([(n, 20, {}, "") for n, _ in threads], gil=92, functions=[("work (demo.py:12)", 85, 90)])
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(10, node=node(busy=70, ncpu=2), driver=driver(cpu=40), target=proc(cpu=98, threads=threads),
            stacks=win)
    found = find_findings(b.header, b.frames)
    assert found[0].resource == "cpu-thread" and found[0].scope == f"pid {PID}"
    assert found[0].severity == SATURATED
    assert "30 threads that never used a second core" in found[0].evidence[0]


def test_one_core_machine_has_no_cpu_thread_finding() -> None:
    b = TimelineBuilder(header(ncpu=1))
    b.ticks(10, node=node(busy=99, ncpu=1, psi=40, runq=3), target=proc(cpu=99))
    assert [f.resource for f in find_findings(b.header, b.frames)] == ["cpu"]


def test_lock_threads_wait_while_the_hardware_idles() -> None:
    workers = [(f"w{k}", 50, {"sleep": 90.0}, "sleep (demo.py:30)") for k in range(4)]
    waiting = [(f"h{k}", 50, IDLE_LOCK, "acquire (threading.py:500)") for k in range(20)]
    win = stacks(workers + waiting + [("MainThread", 50, {"select": 100.0}, "select (selectors.py:415)")])
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(10, node=node(busy=8, ncpu=2), target=proc(cpu=6), stacks=win)
    f = find_findings(b.header, b.frames)[0]
    assert f.resource == "lock" and f.severity == SATURATED and f.scope == f"pid {PID}"
    assert "waiting on a lock or condition" in f.evidence[0]
    assert f.evidence[1] == "most waits sit in acquire (threading.py:500)"


def test_lock_waits_while_the_cpu_is_busy_are_not_a_lock_finding() -> None:
    win = stacks([(f"h{k}", 50, IDLE_LOCK, "acquire (threading.py:500)") for k in range(8)])
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(10, node=node(busy=99, ncpu=2, psi=30, runq=6), target=proc(cpu=190, children=2), stacks=win)
    assert "lock" not in by_resource(find_findings(b.header, b.frames))


def test_downstream_threads_wait_in_socket_reads_of_a_client_call() -> None:
    waits = {"socket": 90.0}
    win = stacks([(f"h{k}", 40, waits, "readinto (socket.py:707)") for k in range(16)],
                 functions=[("readinto (socket.py:707)", 85, 90), ("getresponse (http/client.py:1390)", 0, 88)])
    b = TimelineBuilder(header(ncpu=2))
    b.step(100, p99=30, node=node(busy=10, ncpu=2), target=proc(cpu=8), stacks=win)
    b.step(150, achieved=150, p99=40, node=node(busy=12, ncpu=2), target=proc(cpu=10), stacks=win)
    f = find_findings(b.header, b.frames)[0]
    assert f.resource == "downstream" and f.severity == SATURATED
    assert "88 % of samples are inside a call to another service" in f.evidence


def test_idle_keep_alive_socket_waits_are_not_downstream() -> None:
    # Handler threads of an easy load wait for their client's next request: a socket read, not a bottleneck.
    win = stacks([(f"h{k}", 40, {"socket": 95.0}, "readinto (socket.py:707)") for k in range(16)],
                 functions=[("handle_one_request (server.py:400)", 0, 95)])
    b = TimelineBuilder(header(ncpu=2))
    b.step(100, p99=3, node=node(busy=10, ncpu=2), target=proc(cpu=8), stacks=win)
    b.step(150, p99=3, node=node(busy=12, ncpu=2), target=proc(cpu=10), stacks=win)
    assert find_findings(b.header, b.frames) == []


def test_disk_fsync_waits_and_busy_device() -> None:
    win = stacks([(f"h{k}", 40, {"disk": 80.0}, "fsync (demo.py:50)") for k in range(8)])
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(10, node=node(busy=15, ncpu=2, iowait=30, psi_io=40, disks=disk(97, queue=3, await_ms=25)),
            target=proc(cpu=10), stacks=win)
    f = find_findings(b.header, b.frames)[0]
    assert f.resource == "disk" and f.severity == SATURATED
    assert f.evidence[0].startswith("disk sda 97 % busy for 10 s")
    assert "waiting on file writes or fsync" in f.evidence[-1]


def test_fds_near_the_limit_and_the_errors_that_follow() -> None:
    b = TimelineBuilder(header(ncpu=2))
    b.step(50, node=node(busy=5, ncpu=2), target=proc(fds=120, fd_limit=256))
    b.step(75, achieved=40, errors={"refused": 150}, node=node(busy=5, ncpu=2), target=proc(fds=255, fd_limit=256))
    b.step(110, achieved=30, errors={"refused": 300, "reset": 10}, node=node(busy=5, ncpu=2),
           target=proc(fds=256, fd_limit=256))
    f = find_findings(b.header, b.frames)[0]
    assert f.resource == "fds" and f.severity == SATURATED and f.scope == f"pid {PID}"
    assert "held 256 open file descriptors of its limit 256" in f.evidence[0]
    assert f.evidence[1] == "errors started at t=6 s (150 refused in that second)"


def test_memory_pressure_and_time_to_exhaustion() -> None:
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(8, node=node(busy=10, ncpu=2, avail_pct=5, mem_psi=25, swap=400, faults=900),
            target=proc(rss_growth=10 * 2**20))
    f = find_findings(b.header, b.frames)[0]
    assert f.resource == "memory" and f.severity == SATURATED
    assert "PSI memory some 25 %" in f.evidence[1] and "swapping 400 pages/s" in f.evidence[1]
    assert "runs out in about 41 s" in f.evidence[2]


def test_oom_kill_is_saturation_even_once() -> None:
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(3, node=node(ncpu=2)).ticks(1, node=node(ncpu=2, oom=1)).ticks(3, node=node(ncpu=2))
    (f,) = find_findings(b.header, b.frames)
    assert f.resource == "memory" and f.severity == SATURATED and "first at t=4 s" in f.evidence[0]


def test_accept_queue_overflows() -> None:
    tcp = TcpSample(listen_overflows=40, listen_drops=40, accept_queue=128, accept_backlog=128)
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(6, node=node(busy=30, ncpu=2, tcp=tcp))
    f = find_findings(b.header, b.frames)[0]
    assert f.resource == "accept-queue" and f.severity == SATURATED
    assert "80 listen overflows or drops per second" in f.evidence[0]
    assert "held 128 of its 128 slots" in f.evidence[1]


def test_network_link_full_and_retransmits() -> None:
    nets = {"eth0": NetSample(tx_bps=120e6, rx_bps=1e6, speed_mbps=1000)}
    tcp = TcpSample(retrans_ratio=0.02, out_segs=50000)
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(6, node=node(busy=30, ncpu=2, nets=nets, tcp=tcp))
    f = find_findings(b.header, b.frames)[0]
    assert f.resource == "network" and f.severity == SATURATED
    assert f.evidence[0].startswith("eth0 carried 96 % of its link speed")


def test_two_saturated_resources_are_ranked() -> None:
    # Disk saturated mildly late in the run, CPU saturated hard and long: cpu first, disk second.
    b = TimelineBuilder(header(ncpu=4))
    b.ticks(10, node=node(busy=99, ncpu=4, psi=45, runq=10))
    b.ticks(6, node=node(busy=99, ncpu=4, psi=45, runq=10, disks=disk(91, queue=1.1, await_ms=5)))
    found = find_findings(b.header, b.frames)
    assert [f.resource for f in found] == ["cpu", "disk"]
    assert found[0].score > found[1].score
    assert all(f.severity == SATURATED for f in found)


def test_the_driver_as_the_limit_is_told_apart_from_the_target() -> None:
    target_limited = TimelineBuilder(header(ncpu=4))
    target_limited.ticks(10, node=node(busy=35, ncpu=4), driver=driver(cpu=30),
                         target=proc(cpu=99, threads=[("MainThread", 99)]))
    assert find_findings(target_limited.header, target_limited.frames)[0].resource == "cpu-thread"

    driver_limited = TimelineBuilder(header(ncpu=4))
    driver_limited.ticks(10, node=node(busy=35, ncpu=4), driver=driver(cpu=99), target=proc(cpu=20))
    (f,) = find_findings(driver_limited.header, driver_limited.frames)
    assert f.resource == "load-driver" and f.severity == SATURATED
    assert "the magic number is a lower bound" in f.evidence[-1]


def test_an_exiting_target_is_a_finding_with_its_time() -> None:
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(5, node=node(ncpu=2), target=proc(cpu=30))
    b.tick(node=node(ncpu=2), target=proc(cpu=0, alive=False), events=[exit_event("target pid 4242 exited")])
    b.ticks(5, node=node(ncpu=2), target=proc(cpu=0, alive=False))
    (f,) = find_findings(b.header, b.frames)
    assert f.resource == TARGET_EXIT and f.t_start == 6
    assert f.evidence[0].startswith("target pid 4242 exited at t=6 s")


def test_empty_short_and_hollow_timelines() -> None:
    hdr = header()
    assert find_findings(hdr, []) == []
    short = TimelineBuilder(hdr)
    short.ticks(2, node=node(busy=100, psi=90, runq=20))
    assert find_findings(hdr, short.frames) == []
    hollow = TimelineBuilder(hdr)
    hollow.ticks(30)  # every optional part None
    assert find_findings(hdr, hollow.frames) == []


def test_a_remote_target_is_not_judged_by_this_node() -> None:
    b = TimelineBuilder(header(ncpu=4, url="http://10.0.0.5/", local=False, pid=None))
    b.ticks(10, node=node(busy=99, ncpu=4, psi=40, runq=12))
    assert find_findings(b.header, b.frames) == []


def test_stacks_without_permission_leave_the_rest_working() -> None:
    b = TimelineBuilder(header(ncpu=4))
    b.ticks(10, node=node(busy=27, ncpu=4), target=proc(cpu=99, threads=[("MainThread", 99)]),
            stacks=stacks(error="py-spy: permission denied"))
    (f,) = find_findings(b.header, b.frames)
    assert f.resource == "cpu-thread" and "GIL" not in " ".join(f.evidence)


def test_cpu_saturated_by_other_processes_says_so() -> None:
    from bottlenecktop.probes.samples import ProcBrief

    busy = node(busy=100, ncpu=2, psi=80, runq=11)
    busy.top_procs = [ProcBrief(pid=7533, name="pytest", cpu_pct=120.0, rss=1), ProcBrief(pid=PID, name="python3",
                                                                                           cpu_pct=20.0, rss=1)]
    b = TimelineBuilder(header(ncpu=2))
    b.ticks(8, node=busy, target=proc(cpu=20))
    (f,) = find_findings(b.header, b.frames)
    assert f.resource == "cpu" and f.evidence[2] == ("the target used 20 % of one core of that; other processes "
                                                     "took most of the rest (busiest: pytest (pid 7533))")
