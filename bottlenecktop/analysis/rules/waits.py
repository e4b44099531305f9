"""lock and downstream: the target's threads mostly waiting (on a lock, or on another service) while the
hardware sits idle. Judged from the stack windows of the target."""

from __future__ import annotations

from bottlenecktop.analysis.context import Context
from bottlenecktop.analysis.rules.base import Rule, clamp, during
from bottlenecktop.analysis.window import Hit, Span
from bottlenecktop.session import Frame
from probes.samples import StackWindow

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
    util = ctx.node_util(i)
    if util is not None and util >= IDLE_CPU:
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


def lock_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    found = _wait_hit(i, frame, ctx, "lock")
    if found is None:
        return None
    window, share = found
    util = ctx.node_util(i) or 0.0
    return Hit(2 if share >= WAIT_SAT else 1, clamp(share), f"pid {window.pid}",
               {"share": share, "util": util, "threads": float(len(window.threads))},
               {"where": _top_wait(window, "lock")})


def downstream_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
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
    util = ctx.node_util(i) or 0.0
    return Hit(level, clamp(share), f"pid {window.pid}", {"share": share, "util": util, "client": client},
               {"where": _top_wait(window, "socket")})


def _describe(span: Span, ctx: Context, what: str) -> list[str]:
    out = [f"threads of {span.scope()} spent {span.mean('share') * 100:.0f} % of their samples waiting {what} "
           f"{during(span)} while the CPU left to the target was {span.mean('util'):.0f} % busy"]
    where = span.common("where")
    if where:
        out.append(f"most waits sit in {where}")
    return out


def lock_describe(span: Span, ctx: Context) -> list[str]:
    return _describe(span, ctx, "on a lock or condition")


def downstream_describe(span: Span, ctx: Context) -> list[str]:
    out = _describe(span, ctx, "on socket reads or connects")
    if span.mean("client") >= CLIENT_WARN:
        out.append(f"{span.mean('client'):.0f} % of samples are inside a call to another service")
    return out


LOCK = Rule("lock", lock_hit, lock_describe, specific=True)
DOWNSTREAM = Rule("downstream", downstream_hit, downstream_describe, specific=True)
