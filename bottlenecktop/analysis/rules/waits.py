"""lock and downstream: the target's threads mostly waiting (on a lock, or on another service) while the
hardware sits idle. Judged from the stack windows of the target."""

from __future__ import annotations

from bottlenecktop.analysis.context import Context
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


def lock_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    found = _wait_hit(i, frame, ctx, "lock")
    if found is None:
        return None
    window, share = found
    values = _values(i, frame, ctx, share)
    values["threads"] = float(len(window.threads))
    return Hit(2 if share >= WAIT_SAT else 1, clamp(share), f"pid {window.pid}", values,
               {"where": _top_wait(window, "lock")})


def downstream_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
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
    return _describe(span, ctx, "on a lock or condition")


def downstream_describe(span: Span, ctx: Context) -> list[str]:
    out = _describe(span, ctx, "on another service (socket reads or connects in a client call)")
    if span.mean("client") >= CLIENT_WARN and abs(span.mean("client") - span.mean("share") * 100) >= 1:
        out.append(f"{span.mean('client'):.0f} % of samples are inside a call to another service")
    return out


LOCK = Rule("lock", lock_hit, lock_describe, specific=True)
DOWNSTREAM = Rule("downstream", downstream_hit, downstream_describe, specific=True)
