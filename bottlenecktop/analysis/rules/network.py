"""network (link use, drops, retransmits) and accept-queue (the listen queue of the target overflowing)."""

from __future__ import annotations

from bottlenecktop.analysis.context import Context
from bottlenecktop.analysis.rules.base import Rule, clamp, during
from bottlenecktop.analysis.window import Hit, Span
from bottlenecktop.session import Frame

LINK_WARN = 70.0  # % of link speed
LINK_SAT = 90.0
RETRANS_WARN = 0.01  # retransmitted / sent segments
RETRANS_SAT = 0.05
MIN_SEGS = 100.0  # per second: below this a retransmit ratio is noise
DROPS_WARN = 10.0  # packets per second
QUEUE_WARN = 0.5  # share of the listen backlog in use
QUEUE_SAT = 0.9


def network_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    node = frame.node
    if not ctx.on_target_host or node is None:
        return None
    link, nic = 0.0, ""
    drops = 0.0
    for name, net in node.nets.items():
        drops += net.drops
        if net.speed_mbps:
            use = max(net.rx_bps, net.tx_bps) * 8 / (net.speed_mbps * 1e6) * 100
            if use > link:
                link, nic = use, name
    retrans = node.tcp.retrans_ratio if node.tcp.out_segs >= MIN_SEGS else 0.0
    if link >= LINK_SAT or retrans >= RETRANS_SAT:
        level = 2
    elif link >= LINK_WARN or retrans >= RETRANS_WARN or drops >= DROPS_WARN:
        level = 1
    else:
        return None
    strength = max(clamp(link / 100), clamp(retrans / 0.1), clamp(drops / 1000))
    return Hit(level, strength, "node", {"link": link, "retrans": retrans, "drops": drops}, {"nic": nic})


def network_describe(span: Span, ctx: Context) -> list[str]:
    out = []
    nic = span.common("nic")
    if nic:
        out.append(f"{nic} carried {span.mean('link'):.0f} % of its link speed {during(span)}")
    if span.mean("retrans") > 0:
        out.append(f"TCP retransmitted {span.mean('retrans') * 100:.1f} % of segments {during(span)}")
    if span.mean("drops") > 0:
        out.append(f"{span.mean('drops'):.0f} packets/s dropped {during(span)}")
    return out


def accept_hit(i: int, frame: Frame, ctx: Context) -> Hit | None:
    node = frame.node
    if not ctx.on_target_host or node is None:
        return None
    tcp = node.tcp
    overflows = float(tcp.listen_overflows + tcp.listen_drops)
    fill = tcp.accept_queue / tcp.accept_backlog if tcp.accept_queue is not None and tcp.accept_backlog else 0.0
    if overflows > 0 or fill >= QUEUE_SAT:
        level = 2
    elif fill >= QUEUE_WARN:
        level = 1
    else:
        return None
    values = {"overflows": overflows, "fill": fill}
    if tcp.accept_queue is not None and tcp.accept_backlog:
        values.update(queue=float(tcp.accept_queue), backlog=float(tcp.accept_backlog))
    if frame.load is not None:
        values["refused"] = float(frame.load.errors.get("refused", 0) + frame.load.errors.get("timeout", 0))
    return Hit(level, max(clamp(fill), clamp(overflows / 100)), "node", values)


def accept_describe(span: Span, ctx: Context) -> list[str]:
    out = []
    if span.mean("overflows") > 0:
        out.append(f"the kernel counted {span.mean('overflows'):.0f} listen overflows or drops per second "
                   f"{during(span)}")
    if any("backlog" in h.values for h in span.hits):
        out.append(f"the listen queue held {span.mean('queue'):.0f} of its {span.peak('backlog'):.0f} slots "
                   f"on average {during(span)}")
    if span.mean("refused") > 0:
        out.append(f"the driver saw {span.mean('refused'):.0f} refused or timed-out connects per second")
    return out


NETWORK = Rule("network", network_hit, network_describe)
ACCEPT_QUEUE = Rule("accept-queue", accept_hit, accept_describe, specific=True)
