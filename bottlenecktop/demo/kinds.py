"""The demo kinds: their knobs, and the capacity or failure point each one has by construction."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Knob:
    """One option of a kind: ``name=value`` on the command line."""

    name: str
    kind: type  # int, float or str
    default: Callable[[], str]  # a callable so that defaults like the core count are read when used
    low: float = 0.0
    high: float = 1e9
    help: str = ""


@dataclass(frozen=True)
class KindSpec:
    name: str
    summary: str  # one line; "{knob}" fields are filled from the effective options
    knobs: tuple[Knob, ...]
    capacity_rps: Callable[[dict[str, str]], float | None]
    # What this machine must have for the kind (a writable cgroup, nginx): None if it can run, else one line.
    unavailable: Callable[[], str | None] = lambda: None


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _f(options: dict[str, str], name: str) -> float:
    return float(options[name])


def _quarter_of_available_mib() -> str:
    import psutil

    return str(max(64, psutil.virtual_memory().available // 4 // 2**20))


def _no_quota_cgroup() -> str | None:
    from bottlenecktop.demo.quota import quota_root

    if quota_root() is None:
        return ("the quota demo needs a writable cgroup with a CPU controller (cgroup v1 cpu, or v2 with +cpu in "
                "cgroup.subtree_control): run it as root or in a delegated cgroup")
    return None


def _no_nginx() -> str | None:
    from bottlenecktop.demo.proxy import nginx_binary

    if nginx_binary() is None:
        return "the proxy demo needs nginx, which is not installed here (e.g. apt-get install nginx-light)"
    return None


_WORK = "CPU milliseconds of pure-Python work per request"

SPECS: dict[str, KindSpec] = {
    spec.name: spec
    for spec in (
        KindSpec(
            "cpu",
            "{workers} worker processes share one port, each burning {work_ms} ms of CPU per request: "
            "capacity min(workers, cores) x 1000 / work_ms = {capacity} req/s, every core busy",
            (
                Knob("workers", int, lambda: str(_cores()), 1, 64, "server processes (default: cores)"),
                Knob("work_ms", float, lambda: "5", 0.0, 1000.0, _WORK),
            ),
            lambda o: min(_f(o, "workers"), _cores()) * 1000.0 / _f(o, "work_ms") if _f(o, "work_ms") else None,
        ),
        KindSpec(
            "gil",
            "one process; {workers} thread(s) do {work_ms} ms of pure-Python work per request under one GIL: "
            "capacity 1000 / work_ms = {capacity} req/s whatever the thread count, one core pinned",
            (
                Knob("workers", int, lambda: "1", 1, 64, "threads that do the CPU work"),
                Knob("work_ms", float, lambda: "10", 0.1, 1000.0, _WORK),
            ),
            lambda o: 1000.0 / _f(o, "work_ms"),
        ),
        KindSpec(
            "lock",
            "{workers} slots behind a semaphore, each request sleeps {work_ms} ms holding one: "
            "capacity workers x 1000 / work_ms = {capacity} req/s with the CPU idle",
            (
                Knob("workers", int, lambda: "4", 1, 10_000, "requests allowed inside the lock at once"),
                Knob("work_ms", float, lambda: "20", 0.0, 10_000.0, "milliseconds each request sleeps inside"),
            ),
            lambda o: _f(o, "workers") * 1000.0 / _f(o, "work_ms") if _f(o, "work_ms") else None,
        ),
        KindSpec(
            "downstream",
            "each request calls a second local service with {slots} slots of {delay_ms} ms: "
            "capacity slots x 1000 / delay_ms = {capacity} req/s, the server's threads wait on socket reads",
            (
                Knob("slots", int, lambda: "4", 1, 10_000, "requests the downstream serves at once"),
                Knob("delay_ms", float, lambda: "25", 0.1, 10_000.0, "milliseconds the downstream takes"),
            ),
            lambda o: _f(o, "slots") * 1000.0 / _f(o, "delay_ms"),
        ),
        KindSpec(
            "disk",
            "each request writes {size_bytes} bytes straight to the device (O_DIRECT, O_DSYNC), all requests at once: "
            "capacity set by the device's write bandwidth and latency (not known in advance), the device busy",
            (
                Knob("size_bytes", int, lambda: str(8 * 2**20), 1, 64 * 2**20,
                     "bytes written per request (a fast virtual disk needs megabytes to be the limit)"),
                Knob("dir", str, lambda: "", help="where the demo makes (and deletes) its temp dir"),
            ),
            lambda o: None,
        ),
        KindSpec(
            "fds",
            "each request leaks one file descriptor under RLIMIT_NOFILE={limit}: requests fail (EMFILE) once the "
            "limit is reached, after about limit - baseline fds - open connections requests",
            (Knob("limit", int, lambda: "256", 32, 65_536, "soft RLIMIT_NOFILE of the server"),),
            lambda o: None,
        ),
        KindSpec(
            "async-downstream",
            "one asyncio event loop; each request awaits a call to a second local service of {delay_ms} ms, at most "
            "{concurrency} calls in flight: capacity concurrency x 1000 / delay_ms = {capacity} req/s, the loop idle "
            "in epoll",
            (
                Knob("concurrency", int, lambda: "4", 1, 10_000, "calls to the downstream in flight at once"),
                Knob("delay_ms", float, lambda: "20", 0.1, 10_000.0, "milliseconds the downstream takes"),
            ),
            lambda o: _f(o, "concurrency") * 1000.0 / _f(o, "delay_ms"),
        ),
        KindSpec(
            "proxy",
            "nginx as a reverse proxy in front of a second local service with {slots} slots of {delay_ms} ms: "
            "capacity slots x 1000 / delay_ms = {capacity} req/s, nginx idle in epoll waiting on its upstream",
            (
                Knob("slots", int, lambda: "4", 1, 10_000, "requests the upstream serves at once"),
                Knob("delay_ms", float, lambda: "20", 0.1, 10_000.0, "milliseconds the upstream takes"),
            ),
            lambda o: _f(o, "slots") * 1000.0 / _f(o, "delay_ms"),
            _no_nginx,
        ),
        KindSpec(
            "quota",
            "one process in a cgroup of its own with a CPU quota of {quota_cpus} CPU, {work_ms} ms of CPU per "
            "request: capacity min(quota, 1) x 1000 / work_ms = {capacity} req/s while the node has idle cores",
            (
                Knob("quota_cpus", float, lambda: "0.5", 0.01, 1024.0, "the cgroup's CPU quota, in CPUs"),
                # 10 ms: the HTTP handling's own ~0.5 ms per request counts against the quota, and stays small
                Knob("work_ms", float, lambda: "10", 0.1, 1000.0, _WORK),
            ),
            lambda o: min(_f(o, "quota_cpus"), 1.0) * 1000.0 / _f(o, "work_ms"),  # one GIL: one core at most
            _no_quota_cgroup,
        ),
        KindSpec(
            "leak",
            "each request keeps {kib} KiB for good: memory runs out after MemAvailable / kib requests, at R req/s "
            "in MemAvailable / (kib x R) s; past {cap_mib} MiB kept it answers 507 (a fuse for this machine)",
            (
                Knob("kib", int, lambda: "256", 1, 65_536, "KiB kept (resident) per request"),
                Knob("cap_mib", int, _quarter_of_available_mib, 1, 2**30,
                     "MiB kept at most, then 507s (default: a quarter of available memory)"),
            ),
            lambda o: None,
        ),
    )
}

DEMO_KINDS: tuple[str, ...] = tuple(SPECS)


def spec_for(kind: str) -> KindSpec:
    """The spec of ``kind``; ValueError with one line if there is no such kind."""
    try:
        return SPECS[kind]
    except KeyError:
        raise ValueError(f"unknown demo kind {kind!r}; choose one of: {', '.join(DEMO_KINDS)}") from None


def _check(kind: str, knob: Knob, raw: str) -> str:
    """``raw`` normalised, or ValueError with one line."""
    if knob.kind is str:
        return raw
    try:
        value = knob.kind(raw)
    except ValueError:
        raise ValueError(f"demo option {knob.name}={raw!r} for kind {kind!r}: not a number") from None
    if not knob.low <= value <= knob.high:
        raise ValueError(
            f"demo option {knob.name}={raw} for kind {kind!r}: must be between {knob.low:g} and {knob.high:g}"
        )
    return str(value)


def parse_demo_options(kind: str, items: list[str]) -> dict[str, str]:
    """Parse ``["workers=8", "work_ms=5"]`` into a dict of the options given, each checked and normalised.

    Raises ValueError with one clear line for an unknown kind, a malformed item, an unknown key or a bad value.
    """
    spec = spec_for(kind)
    out: dict[str, str] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key:
            raise ValueError(f"demo option {item!r}: expected key=value, e.g. {spec.knobs[0].name}=2")
        out[key] = raw
    options = _normalise(spec, out)
    why_not = spec.unavailable()
    if why_not:
        raise ValueError(why_not)
    return options


def _normalise(spec: KindSpec, options: dict[str, str]) -> dict[str, str]:
    knobs = {k.name: k for k in spec.knobs}
    out: dict[str, str] = {}
    for key, raw in options.items():
        if key not in knobs:
            raise ValueError(f"unknown demo option {key!r} for kind {spec.name!r}; known: {', '.join(knobs)}")
        out[key] = _check(spec.name, knobs[key], str(raw).strip())
    return out


def resolve_options(kind: str, options: dict[str, str] | None) -> dict[str, str]:
    """Every knob of ``kind``: the given options checked, the rest at their defaults. ValueError on bad input."""
    spec = spec_for(kind)
    given = _normalise(spec, options or {})
    return {k.name: given.get(k.name, _check(kind, k, k.default())) for k in spec.knobs}


def describe(kind: str, options: dict[str, str]) -> str:
    """One line that says what the bottleneck is and where its limit lies (req/s)."""
    spec = spec_for(kind)
    cap = spec.capacity_rps(options)
    return spec.summary.format(capacity="unbounded" if cap is None else f"{cap:g}", **options)
