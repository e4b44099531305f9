"""disk: a device busy with a queue and long waits, PSI io, iowait, or the target's threads waiting on the disk
(D state or fsync as the kernel says; the stacks' file writes in recordings without kernel waits)."""

from __future__ import annotations

from bottlenecktop.analysis.context import Context
from bottlenecktop.analysis.kernel import threads_in, waits_of, working_threads
from bottlenecktop.analysis.rules.base import Rule, clamp, during
from bottlenecktop.analysis.window import Hit, Span
from bottlenecktop.session import Frame

BUSY_WARN = 60.0  # % of the tick the device had I/O in flight
BUSY_SAT = 90.0
QUEUE_SAT = 1.0  # requests in flight on average
AWAIT_SAT_MS = 20.0
PSI_WARN = 10.0  # % of the tick
PSI_SAT = 25.0
IOWAIT_WARN = 20.0  # % of the node
WAIT_WARN = 0.3  # share of the target's thread samples waiting on file I/O
WAIT_SAT = 0.5
OWN_SHARE = 0.2  # the target's share of the device's bytes below which a busy device is someone else's


def disk_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    values: dict[str, float] = {}
    names: dict[str, str] = {}
    busy = queue = await_ms = psi = iowait = 0.0
    node = frame.node
    if ctx.on_target_host and node is not None:
        if node.disks:
            name, dev = max(node.disks.items(), key=lambda kv: kv[1].busy_pct)
            busy, queue, await_ms = dev.busy_pct, dev.queue, dev.await_ms
            values.update(busy=busy, queue=queue, await_ms=await_ms, device_bps=dev.w_bps + dev.r_bps)
            names["device"] = name
        psi = node.psi_io_some or 0.0
        if node.psi_io_some is not None:
            values["psi"] = psi
        iowait = node.cpu.iowait
        values["iowait"] = iowait
    window = ctx.target_stacks(i)
    kernel = waits_of(frame)
    pid = None
    if kernel is not None:  # the kernel says it: threads in D state, or blocked in fsync and friends
        working = working_threads(kernel, ctx.futex_floor)
        wait = clamp(threads_in(kernel, "disk") / working) if working >= 0.5 else 0.0
        values["wait"], values["kernel"] = wait, 1.0
        pid = kernel.pid or (frame.target.pid if frame.target is not None else None)
    else:
        wait = ctx.wait_shares(window).get("disk", 0.0) if window is not None else 0.0
        if window is not None:
            values["wait"] = wait
            pid = window.pid
    if pid is not None:
        names["pid"] = str(pid)
    if (busy >= BUSY_SAT and (queue >= QUEUE_SAT or await_ms >= AWAIT_SAT_MS or psi >= PSI_WARN)) \
            or psi >= PSI_SAT or wait >= WAIT_SAT:
        level = 2
    elif busy >= BUSY_WARN or psi >= PSI_WARN or iowait >= IOWAIT_WARN or wait >= WAIT_WARN:
        level = 1
    else:
        return None
    target = frame.target
    if target is not None and target.alive:
        values["target_bps"] = target.write_bps + target.read_bps
        device_bps = values.get("device_bps", 0.0)
        if level == 2 and wait < WAIT_WARN and device_bps > 0 and values["target_bps"] < OWN_SHARE * device_bps:
            level = 1  # another process keeps the device busy; the target neither uses it much nor waits on it
    strength = max(clamp((busy - BUSY_WARN) / (100 - BUSY_WARN)), clamp(psi / 50), clamp(wait))
    scope = "node" if busy >= BUSY_WARN or psi >= PSI_WARN else f"pid {pid}" if pid is not None else "node"
    return Hit(level, strength, scope, values, names)


def disk_describe(span: Span, ctx: Context) -> list[str]:
    out = []
    device = span.common("device")
    if device and span.mean("busy") > 0:
        out.append(f"disk {device} {span.mean('busy'):.0f} % busy {during(span)}, queue {span.mean('queue'):.1f}, "
                   f"await {span.mean('await_ms'):.1f} ms")
    extra = []
    if any("psi" in h.values for h in span.hits):
        extra.append(f"PSI io some {span.mean('psi'):.0f} %")
    if span.mean("iowait") >= 1:
        extra.append(f"iowait {span.mean('iowait'):.0f} %")
    if extra:
        out.append(", ".join(extra) + ("" if out else f" {during(span)}"))
    if span.mean("target_bps") >= 1e6:
        out.append(f"the target moved {span.mean('target_bps') / 1e6:.0f} MB/s to and from storage of the "
                   f"device's {span.mean('device_bps') / 1e6:.0f} MB/s")
    if span.mean("wait") > 0:
        pid = span.common("pid")
        how = ("in D state or fsync, as the kernel saw them" if any("kernel" in h.values for h in span.hits)
               else "on file writes or fsync")
        out.append(f"threads of pid {pid} spent {span.mean('wait') * 100:.0f} % of their time waiting {how} "
                   f"{during(span)}")
    return out


DISK = Rule("disk", disk_hit, disk_describe)
