"""lock and downstream: the target's work mostly waiting (on a lock, or on another service) while the hardware
sits idle.

The kernel decides the class (Frame.waits: futex or a socket to a downstream peer; Frame.peers: requests in
progress at the listener and outstanding to each downstream), for a target in any language; the Python stacks
only say where (the function and line). Recordings without kernel waits fall back to the stack classes."""

from __future__ import annotations

from dataclasses import replace

from bottlenecktop.analysis.context import Context
from bottlenecktop.analysis.kernel import (
    PeerLoad,
    downstream_loads,
    has_kernel_view,
    in_progress,
    peer_proc,
    threads_in,
    waits_of,
    working_threads,
)
from bottlenecktop.analysis.rules.base import Rule, clamp, during
from bottlenecktop.analysis.window import Hit, Span
from bottlenecktop.probes.samples import StackWindow
from bottlenecktop.session import Frame

WAIT_WARN = 0.3  # share of the target's thread samples
WAIT_SAT = 0.5
IDLE_CPU = 70.0  # % of the CPU left to the target: above this the hardware is not idle
IDLE_DISK = 60.0  # % busy
# Frames that show a thread calling out to another service, as opposed to reading its own client's request.
CLIENT_MARKS = ("http/client.py", "client.py", "getresponse", "urlopen", "create_connection", "urllib3",
                "requests/", "httpx", "aiohttp", "psycopg", "redis", "pymysql", "grpc")
CLIENT_WARN = 30.0  # % of samples with such a frame on the stack
CLIENT_SAT = 50.0  # most thread time inside calls to another service: that service sets the pace
THREAD_PINNED = 85.0  # % of one core: a thread this busy is busy hardware, whatever the others wait on


def _hardware_idle(i: int, frame: Frame, ctx: Context) -> bool:
    """No hardware holds the target back: its CPU is not busy (busy with other processes while the target
    gets a CPU when it asks does not count), no thread of it is pinned, no disk is busy."""
    if ctx.cpu_limits_target(i, IDLE_CPU):
        return False
    target = frame.target
    if target is not None and any(t.cpu_pct >= THREAD_PINNED for t in target.threads):
        return False
    node = frame.node
    return node is None or all(d.busy_pct < IDLE_DISK for d in node.disks.values())


def _top_wait(window: StackWindow, cls: str) -> str:
    """The frame the threads waiting in ``cls`` most often sit in."""
    best = max((t for t in window.threads if t.top_wait), key=lambda t: t.samples * t.waits.get(cls, 0.0),
               default=None)
    return best.top_wait if best is not None and best.waits.get(cls, 0.0) > 0 else ""


def _client_share(window: StackWindow) -> float:
    """% of samples with a call to another service on the stack."""
    return max((f.total_pct for f in window.functions if any(m in f.name for m in CLIENT_MARKS)), default=0.0)


def _wait_hit(i: int, frame: Frame, ctx: Context, cls: str) -> tuple[StackWindow, float] | None:
    window = ctx.target_stacks(i)
    if window is None:
        return None
    share = ctx.wait_shares(window).get(cls, 0.0)
    if share < WAIT_WARN or not _hardware_idle(i, frame, ctx):
        return None
    return window, share


def _values(i: int, frame: Frame, ctx: Context, share: float) -> dict[str, float]:
    values = {"share": share, "util": ctx.node_util(i) or 0.0}
    if frame.target is not None and frame.target.alive:
        values["delay"] = frame.target.run_delay_ms
    return values

# -- the kernel's view -------------------------------------------------------------------------------------------

PINNED_PEER = 85.0  # % of one core: a downstream's thread this busy is what limits the downstream
BUSY_PEER = 30.0  # % of one core: a downstream's thread doing real work
STARVED_PEER_MS = 100.0  # run delay, ms per second: the downstream's threads waited this long for a CPU
IDLE_OTHER = 10.0  # % of one core: a downstream's other threads below this leave it one working thread
PEAK_LOAD_SHARE = 0.8  # a downstream process is judged on the span's frames within this share of its top rate
MIN_IN_PROGRESS = 2  # requests in progress at the target for an idle loop's wait to count without tcp_info's word
INFERRED_SHARE = 0.6  # the share said for that inference: saturated under load, never as sure as a count
PY_LOCK_MIN = 0.1  # share of py-spy's samples in an acquire, below which futex waits are not the program's locks
UNRESOLVED = 30.0  # % of thread-samples in a poll whose fd set the kernel probe could not read
LOOP_IDLE_CPU = 70.0  # % of one core: an event loop below this is waiting, not working


def _where(span: Span, ctx: Context, classes: tuple[str, ...]) -> str:
    """The Python line the waiting threads sit in (py-spy), whichever of ``classes`` it put them in, from the
    last stack window of the span (asked once per finding, not per frame: the analysis runs every tick)."""
    for i in range(span.end, span.start - 1, -1):
        window = ctx.target_stacks(i)
        if window is None:
            continue
        shares = ctx.wait_shares(window)
        cls = max(classes, key=lambda c: shares.get(c, 0.0))
        return _top_wait(window, cls) if shares.get(cls, 0.0) > 0 else ""
    return ""


def _where_on_peer(span: Span, ctx: Context, peer: str) -> str:
    """The Python line of the threads the kernel saw blocked on ``peer`` (its top threads, matched by tid to
    py-spy's), from the last frame of the span that has both."""
    for i in range(span.end, span.start - 1, -1):
        w, window = waits_of(ctx.frames[i]), ctx.target_stacks(i)
        if w is None or window is None:
            continue
        tids = {t.tid for t in w.top_threads if t.peer == peer}
        counts: dict[str, int] = {}
        for th in window.threads:
            if th.tid in tids and th.top_wait:
                counts[th.top_wait] = counts.get(th.top_wait, 0) + th.samples
        if counts:
            return max(counts, key=lambda k: counts[k])
    return ""


def _peer_values(frame: Frame, top: PeerLoad, values: dict[str, float], names: dict[str, str]) -> None:
    """What the local process behind the peer was doing: its CPU and its busiest threads."""
    sample = peer_proc(frame, top.pid)
    if sample is None:
        return
    values["peer_cpu"] = sample.cpu_pct
    values["peer_delay"] = sample.run_delay_ms
    busiest = sorted(sample.threads, key=lambda t: -t.cpu_pct)
    if busiest:
        values["peer_thread"] = busiest[0].cpu_pct
        values["peer_second"] = busiest[1].cpu_pct if len(busiest) > 1 else 0.0
        names["peer_thread_name"] = busiest[0].name or str(busiest[0].tid)
    values["peer_threads"] = float(max(sample.num_threads, len(sample.threads)))


def _kernel_downstream_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    """The target's work waits on a peer it opened sockets to: its threads blocked on those sockets (a thread
    per call), or requests outstanding to it while the target's own threads idle (an event loop, a proxy)."""
    loads = downstream_loads(frame)
    if not loads:
        return None
    top = loads[0]
    w = waits_of(frame)
    working = working_threads(w, ctx.futex_floor) if w is not None else 0.0
    thread_share = clamp(top.threads / working) if working >= 0.5 else 0.0
    # An event loop or a proxy: its threads idle in epoll while requests sit at the downstream. Then the time
    # its requests spend in progress is spent outside the process: on that peer (or in a queue in front of it).
    target = frame.target
    loop_idle = (w is None or working < 1.0) and (target is None or target.cpu_pct < LOOP_IDLE_CPU
                                                  or not target.alive)
    work = in_progress(frame)
    request_share = 0.0
    inferred = False
    if loop_idle and top.outstanding >= 1:
        request_share = 1.0 if not work else clamp(max(top.outstanding / work, 0.6))
    elif loop_idle and top.sockets >= 1 and work is not None and work >= MIN_IN_PROGRESS:
        # Requests in progress, the loop idle, connections open to one downstream, and tcp_info counting no reply
        # awaited: a connection that always has the next request queued behind the reply (pipelined, or written
        # before the reply was read) reads as answered. The time is still spent outside the process.
        request_share, inferred = INFERRED_SHARE, True
    share = max(thread_share, request_share)
    if share < WAIT_WARN or not _hardware_idle(i, frame, ctx):
        return None
    pushed = ctx.pressured[i] is True
    level = 2 if share >= WAIT_SAT and (thread_share >= WAIT_SAT or pushed or top.waiting >= 2) else 1
    values = _values(i, frame, ctx, share)
    values.update(kernel=1.0, waiting=top.waiting, threads=top.threads, outstanding=top.outstanding,
                  sockets=float(top.sockets))
    if inferred:
        values["inferred"] = 1.0
    if frame.load is not None and frame.load.achieved_rps > 0:
        values["rps"] = frame.load.achieved_rps
    if work is not None:
        values["in_progress"] = float(work)
    names = {"peer": top.peer}
    if top.pid is not None:
        names["pid"], names["process"] = str(top.pid), top.process
    _peer_values(frame, top, values, names)
    scope = top.peer if top.pid is None else f"{top.process + ' ' if top.process else ''}pid {top.pid} at {top.peer}"
    return Hit(level, clamp(share), scope, values, names)


def _kernel_lock_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    """Requests in progress whose threads wait on a futex, not running and not waiting on a downstream or the
    disk: contention. A pool's threads waiting for work also sit on a futex, but then few requests are in
    progress at the listener for them; py-spy, when it sees Python, tells the two apart too (Queue.get and
    Event.wait are idle)."""
    w = waits_of(frame)
    if w is None:
        return None
    futex = threads_in(w, "futex") - ctx.futex_floor  # the pool's idle threads are there at any load
    if futex < 1.0:
        return None
    work = in_progress(frame)
    busy_elsewhere = threads_in(w, "running") + threads_in(w, "disk") + sum(
        p.threads for p in w.peers if p.role == "downstream")
    # No listener seen: every futex wait of a working thread counts (the stacks may still say it is idle).
    queued = futex if work is None else max(0.0, work - busy_elsewhere)
    blocked = min(futex, queued)
    working = working_threads(w, ctx.futex_floor)
    share = clamp(blocked / working) if working >= 1.0 else 0.0
    window = ctx.target_stacks(i)
    if window is not None and _python_lock_share(window) < PY_LOCK_MIN:
        # py-spy sees no acquire where those threads wait: a pool's get, an Event or a join (idle), or the GIL
        # (a thread waiting for it shows its Python line as running): not a lock of the program's.
        return None
    if share < WAIT_WARN or not _hardware_idle(i, frame, ctx):
        return None
    pushed = ctx.pressured[i] is True
    level = 2 if share >= WAIT_SAT and (pushed or (work is not None and work >= 2)) else 1
    values = _values(i, frame, ctx, share)
    values.update(kernel=1.0, futex=futex, threads=w.threads, blocked=blocked)
    if work is not None:
        values["in_progress"] = float(work)
    return Hit(level, clamp(share), f"pid {w.pid or (frame.target.pid if frame.target else 0)}", values)


def _python_lock_share(window: StackWindow) -> float:
    """Share of all the target's thread samples (idle threads too) that py-spy put in a lock wait, 0..1."""
    total = sum(th.samples for th in window.threads) * 100.0
    if total <= 0:
        return 1.0  # nothing sampled: no word against the kernel's
    return sum(th.samples * th.waits.get("lock", 0.0) for th in window.threads) / total


def downstream_scope(span: Span, ctx: Context) -> str:
    """The peer, its local process, and what limits that process when something visibly does."""
    scope = span.scope()
    if not any("kernel" in h.values for h in span.hits):
        return scope
    said = _peer_limit(span)
    return f"{scope}: {said}" if said else scope


def _at_peak_load(span: Span) -> Span:
    """The span's frames at its highest throughput: a downstream's thread is at a core where the load is, and a
    span that starts low in the ramp would otherwise average that with the lower steps (71 % for a redis-server
    at 97-100 % from the knee on)."""
    top = span.peak("rps")
    hits = [h for h in span.hits if "peer_cpu" in h.values and h.values.get("rps", 0.0) >= PEAK_LOAD_SHARE * top]
    return replace(span, hits=hits) if hits else span


def _peer_limit(span: Span) -> str:
    if not any("peer_cpu" in h.values for h in span.hits):
        return ""
    span = _at_peak_load(span)
    thread, second, delay = span.mean("peer_thread"), span.mean("peer_second"), span.mean("peer_delay")
    # Its thread at a core, or busy and waiting for a CPU long enough that together they make a core (a busy
    # node starves it: then the run delay says so).
    starved = thread >= BUSY_PEER and thread + delay / 10 >= PINNED_PEER and delay >= STARVED_PEER_MS
    if thread < PINNED_PEER and not starved:
        return ""
    which = "its one thread" if second < IDLE_OTHER else "its busiest thread"
    said = f"{which} at {thread:.0f} % of one core"
    if starved:
        said += f", waiting {delay:.0f} ms per second for a CPU"
    return said


def _kernel_downstream_describe(span: Span, ctx: Context) -> list[str]:
    peer = span.common("peer")
    threads, outstanding = span.mean("threads"), span.mean("outstanding")
    util = span.mean("util")
    if threads >= 0.5:
        head = (f"{threads:.1f} threads of the target were blocked on sockets to {peer} ({span.mean('share') * 100:.0f}"
                f" % of its working threads) {during(span)}")
    elif outstanding >= 0.5:
        head = (f"the target's threads idled in the kernel while {outstanding:.1f} requests were outstanding to "
                f"{peer} (tcp_info) {during(span)}")
    else:
        head = (f"the target's threads idled in the kernel while {span.mean('in_progress'):.0f} requests were in "
                f"progress and its {span.mean('sockets'):.0f} connections to {peer} were its only other business "
                f"{during(span)} (tcp_info saw no reply awaited: requests queued behind replies on the same "
                "connections read as answered)")
    out = [f"{head}, while the CPU left to the target was {util:.0f} % busy"]
    rps = span.mean("rps")
    waiting = span.mean("waiting")
    if waiting < 0.5 and rps > 0 and span.mean("in_progress") > 0:
        out.append(f"Little's law: {span.mean('in_progress'):.0f} requests in progress at {rps:.0f} req/s is about "
                   f"{span.mean('in_progress') / rps * 1000:.0f} ms each, spent outside the process")
    elif rps > 0 and waiting > 0:
        out.append(f"Little's law: {waiting:.1f} calls in flight to {peer} at {rps:.0f} req/s is about "
                   f"{waiting / rps * 1000:.0f} ms of each request spent there")
    process, pid = span.common("process"), span.common("pid")
    if pid:
        said = f"{process or 'the process'} pid {pid} listens at {peer} on this host"
        if any("peer_cpu" in h.values for h in span.hits):
            peak = _at_peak_load(span)
            said += f"; it used {peak.mean('peer_cpu'):.0f} % of one core"
            if peak.mean("peer_thread") > 0:
                said += (f", its busiest thread ({peak.common('peer_thread_name')}) "
                         f"{peak.mean('peer_thread'):.0f} %")
            if peak.mean("rps") > 0 and len(peak.hits) < len(span.hits):  # judged at the top load: say which
                said += f", at {peak.mean('rps'):.0f} req/s"
        out.append(said)
    where = _where_on_peer(span, ctx, peer) or _where(span, ctx, ("client", "socket", "lock"))
    if where:
        out.append(f"the Python code waits in {where}")
    return out


def _kernel_lock_describe(span: Span, ctx: Context) -> list[str]:
    out = [f"{span.mean('blocked'):.1f} of the target's threads ({span.mean('share') * 100:.0f} % of its working "
           f"threads) waited on a futex {during(span)} while the CPU left to the target was "
           f"{span.mean('util'):.0f} % busy"]
    if any("in_progress" in h.values for h in span.hits):
        out.append(f"{span.mean('in_progress'):.0f} requests were in progress at the listener meanwhile: they "
                   "wait for each other, not for work")
    where = _where(span, ctx, ("lock",))
    if where:
        out.append(f"most waits sit in {where}")
    return out



def lock_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    if has_kernel_view(frame):
        return _kernel_lock_hit(i, frame, ctx)
    found = _wait_hit(i, frame, ctx, "lock")
    if found is None:
        return None
    window, share = found
    values = _values(i, frame, ctx, share)
    values["threads"] = float(len(window.threads))
    return Hit(2 if share >= WAIT_SAT else 1, clamp(share), f"pid {window.pid}", values,
               {"where": _top_wait(window, "lock")})


def downstream_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    if has_kernel_view(frame):
        hit = _kernel_downstream_hit(i, frame, ctx)
        w = waits_of(frame)
        if hit is not None or w is None or w.unresolved_pct < UNRESOLVED:
            return hit
        # The kernel could not say which sockets its threads poll (/proc/PID/mem denied): the stacks may.
    window = ctx.target_stacks(i)
    if window is None:
        return None
    calls = ctx.wait_shares(window).get("client", 0.0)
    if calls >= WAIT_WARN:  # socket waits the stack probe saw inside a call to another service
        if not _hardware_idle(i, frame, ctx):
            return None
        values = _values(i, frame, ctx, calls)
        values["client"] = calls * 100
        return Hit(2 if calls >= WAIT_SAT else 1, clamp(calls), f"pid {window.pid}", values,
                   {"where": _top_wait(window, "client")})
    # Recordings from before the "client" class: plain socket waits and the client frames among the functions.
    found = _wait_hit(i, frame, ctx, "socket")
    if found is None:
        return None
    window, share = found
    client = _client_share(window)
    # An idle keep-alive handler also waits in a socket read (for its client's next request). So socket waits
    # count as saturation only with most samples inside a client call, or while the load pushes the target.
    if share >= WAIT_SAT and (client >= CLIENT_SAT or ctx.pressured[i] is True):
        level = 2
    elif client >= CLIENT_WARN:
        level = 1
    else:
        return None
    values = _values(i, frame, ctx, share)
    values["client"] = client
    return Hit(level, clamp(share), f"pid {window.pid}", values, {"where": _top_wait(window, "socket")})


def _describe(span: Span, ctx: Context, what: str) -> list[str]:
    util = span.mean("util")
    if util >= IDLE_CPU:
        cpu = (f"while the node's CPU was {util:.0f} % busy with other work, the target waiting only "
               f"{span.mean('delay'):.0f} ms per second for a CPU")
    else:
        cpu = f"while the CPU left to the target was {util:.0f} % busy"
    out = [f"threads of {span.scope()} spent {span.mean('share') * 100:.0f} % of their samples waiting {what} "
           f"{during(span)} {cpu}"]
    where = span.common("where")
    if where:
        out.append(f"most waits sit in {where}")
    return out


def lock_describe(span: Span, ctx: Context) -> list[str]:
    if sum(1 for h in span.hits if "kernel" in h.values) * 2 > len(span.hits):
        return _kernel_lock_describe(span, ctx)
    return _describe(span, ctx, "on a lock or condition")


def downstream_describe(span: Span, ctx: Context) -> list[str]:
    if sum(1 for h in span.hits if "kernel" in h.values) * 2 > len(span.hits):
        return _kernel_downstream_describe(span, ctx)
    out = _describe(span, ctx, "on another service (socket reads or connects in a client call)")
    if span.mean("client") >= CLIENT_WARN and abs(span.mean("client") - span.mean("share") * 100) >= 1:
        out.append(f"{span.mean('client'):.0f} % of samples are inside a call to another service")
    return out


LOCK = Rule("lock", lock_hit, lock_describe, specific=True)
DOWNSTREAM = Rule("downstream", downstream_hit, downstream_describe, specific=True, scope_of=downstream_scope)
