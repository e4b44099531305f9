"""load-driver: the driver's own CPU or its schedule lag is the limit, so the magic number is a lower bound."""

from __future__ import annotations

from bottlenecktop.analysis.context import Context
from bottlenecktop.analysis.rules.base import Rule, clamp, during
from bottlenecktop.analysis.window import Hit, Span
from bottlenecktop.session import Frame

CPU_WARN = 75.0  # % of one core (the driver's event loop runs on one)
CPU_SAT = 90.0
LATE_SHARE = 0.05  # requests sent late / sent
LAG_WARN_MS = 100.0


def driver_cpu(frame: Frame) -> float | None:
    """The driver's CPU, % of one core, from its process sample or its own report."""
    if frame.driver is not None and frame.driver.alive:
        return frame.driver.cpu_pct
    if frame.load is not None:
        return frame.load.driver_cpu_pct
    return None


def driver_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    cpu = driver_cpu(frame)
    load = frame.load
    if cpu is None:
        return None
    late = load.late / max(load.sent, 1) if load is not None else 0.0
    lag = load.lag_p99_ms if load is not None else 0.0
    # Judged by its work, not its CPU alone: a driver at 99 % of a core that sends on time is not the limit
    # (``late`` counts only its own hand-over lag, not requests waiting for a connection at the cap). Without
    # its own report, its CPU is all there is.
    if load is None:
        level = 2 if cpu >= CPU_SAT else 1 if cpu >= CPU_WARN else 0
    elif late >= LATE_SHARE and cpu >= CPU_WARN - 15:
        level = 2
    elif late >= LATE_SHARE or lag >= LAG_WARN_MS or (cpu >= CPU_SAT and late > 0):
        level = 1
    else:
        level = 0
    if not level:
        return None
    pid = ctx.header.driver_pid or (frame.driver.pid if frame.driver is not None else None)
    return Hit(level, max(clamp((cpu - CPU_WARN) / (100 - CPU_WARN)), clamp(late * 5)),
               f"driver pid {pid}" if pid else "driver", {"cpu": cpu, "late": late, "lag": lag})


def driver_describe(span: Span, ctx: Context) -> list[str]:
    out = [f"the load driver used {span.mean('cpu'):.0f} % of one core {during(span)}"]
    if span.mean("late") > 0 or span.mean("lag") > 0:
        out.append(f"it sent {span.mean('late') * 100:.1f} % of requests late (send lag p99 "
                   f"{span.mean('lag'):.0f} ms)")
    out.append("the driver, not the target, may be the limit: the magic number is a lower bound")
    return out


LOAD_DRIVER = Rule("load-driver", driver_hit, driver_describe)
