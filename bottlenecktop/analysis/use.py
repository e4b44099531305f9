"""The USE method over the timeline: every rule judged over sustained windows, the findings ranked."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from bottlenecktop.analysis import events
from bottlenecktop.analysis.context import Context, build_context
from bottlenecktop.analysis.findings import SATURATED, WARNING, Finding
from bottlenecktop.analysis.lifecycle import Away, frame_away, spans_of
from bottlenecktop.analysis.remote import remote_findings
from bottlenecktop.analysis.rules import RULES, Rule
from bottlenecktop.analysis.window import Span, best_span, sustained_spans
from bottlenecktop.session import Frame, Header


def _score(span: Span, saturated: bool, specific: bool, window_s: float) -> float:
    """0..1: saturation first, then strength, then how long it lasted; causes inside the target rank above
    the node-wide view of the same load."""
    coverage = min(1.0, span.duration / (3 * window_s))
    if saturated:
        return round(min(1.0, 0.55 + 0.25 * span.strength() + 0.1 * coverage + (0.1 if specific else 0.0)), 3)
    return round(min(0.5, 0.15 + 0.2 * span.strength() + 0.1 * coverage + (0.05 if specific else 0.0)), 3)


def _merge(findings: list[Finding]) -> list[Finding]:
    """One finding per resource and machine: the stronger one, with the other's evidence added."""
    by_resource: dict[tuple[str, str], Finding] = {}
    for f in sorted(findings, key=lambda f: -f.score):
        kept = by_resource.get((f.resource, f.host))
        if kept is None:
            by_resource[(f.resource, f.host)] = f
        else:
            kept.evidence.extend(e for e in f.evidence if e not in kept.evidence)
    return sorted(by_resource.values(), key=lambda f: (-f.score, f.resource))


def judge(rules: Sequence[Rule], ctx: Context, window_s: float, away: Sequence[Away] = ()) -> list[Finding]:
    """Each rule over the frames of CTX: its best saturated span, else its best warning span, as a Finding.
    Frames in ``away`` (the target stopped or gone, and the drain after) are not judged: what they show was
    caused by that, and a span never bridges them."""
    found: list[Finding] = []
    judged = [not frame_away(t, ctx.interval, away) for t in ctx.times] if away else [True] * len(ctx.frames)
    for rule in rules:
        hits = [rule.hit(i, f, ctx) if judged[i] else None for i, f in enumerate(ctx.frames)]
        window = min(window_s, rule.window_s) if rule.window_s else window_s
        span = best_span(sustained_spans(ctx.times, hits, 2, window, ctx.interval))
        saturated = span is not None
        if span is None:
            span = best_span(sustained_spans(ctx.times, hits, 1, window, ctx.interval))
        if span is None:
            continue
        found.append(Finding(resource=rule.resource, severity=SATURATED if saturated else WARNING,
                             score=_score(span, saturated, rule.specific, window_s),
                             scope=rule.scope_of(span, ctx) if rule.scope_of else span.scope(),
                             evidence=rule.describe(span, ctx), t_start=span.t_start, t_end=span.t_end))
    return found


def find_findings(header: Header, frames: Sequence[Frame], window_s: float = 5.0,
                  away: Sequence[Away] | None = None) -> list[Finding]:
    """Findings over the whole timeline, ranked by score (highest first): this node's and the target's, and
    each remote node's (through its exporters).

    ``window_s``: seconds a signal must hold to count; a shorter spike is never a finding. ``away``: the times
    the target was stopped or gone (lifecycle.spans_of), left out; None: worked out from ``frames``.
    """
    if not frames:
        return []
    if away is None:
        away = spans_of(header, frames)
    found = judge(RULES, build_context(header, frames), window_s, away)
    found += remote_findings(header, frames, window_s, partial(judge, away=away))
    for extra in (events.target_exit(header, frames), events.oom_kills(frames),
                  events.driver_limited(header, frames, away)):
        if extra is not None:
            found.append(extra)
    return _merge(found)
