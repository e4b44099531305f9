"""The session timeline: one Frame per tick, time-aligned, appended as the run goes.

Everything downstream (analysis, recording, headless output, the screen) reads Frames; nothing reaches back
into a probe. A replayed recording is decoded into the same Session the live run builds.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from bottlenecktop.probes.samples import (
    CgroupSample,
    LoadSecond,
    NodeSample,
    PeersSample,
    ProcSample,
    RampOutcome,
    RemoteSample,
    StackWindow,
    StepResult,
    WaitSample,
)
from bottlenecktop.verdict_types import Mode, Verdict

SCHEMA_VERSION = 1

# Observe mode runs for days: the session holds only its last LIVE_KEEP_S seconds of frames (the screen shows
# 300 s, live analysis reads the last few windows); the recording on disk keeps every frame.
LIVE_KEEP_S = 600.0


def keep_frames_for(mode: Mode, interval: float) -> int | None:
    """How many frames a live session of ``mode`` holds: a bounded window when observing (it never ends by
    itself); None, every frame, for a ramp (it ends, and its verdict needs every step)."""
    if mode not in ("observe", "attach"):
        return None
    return max(1, math.ceil(LIVE_KEEP_S / max(interval, 0.01)))

# Who said an event: the tick loop about the target (its exit, a stop (state T) and the resume after it, a new
# process listening on its port that the run then follows, an attach), the driver, the node or stack probe;
# "other" for events of recordings written before events had a kind.
EventKind = Literal["target-exit", "target-stopped", "target-resumed", "target-restarted", "attach", "attach-failed",
                    "driver", "node", "stacks", "remote", "other"]


class Target(msgspec.Struct, kw_only=True, omit_defaults=True):
    url: str | None = None
    pid: int | None = None
    local: bool = True  # the URL resolves to this host


class Slo(msgspec.Struct, kw_only=True):
    p99_ms: float = 500.0
    error_rate: float = 0.01


class RampInfo(msgspec.Struct, kw_only=True):
    """The ramp's plan as it was started: enough to say how far it has come and how long it can still take."""

    start_rps: float = 10.0
    step_factor: float = 1.5
    step_seconds: float = 3.0
    confirm_seconds: float = 5.0
    search_steps: int = 3
    confirm_retries: int = 2
    max_rps: float | None = None
    max_time_s: float | None = None
    closed_model: bool = False


class Header(msgspec.Struct, kw_only=True):
    """What a recording needs to be understood on another machine (every field written, schema_version first)."""

    schema_version: int = SCHEMA_VERSION
    mode: Mode = "observe"
    started_at: float = 0.0  # unix time of t == 0
    host: str = ""
    cpu_count: int = 1
    memory_bytes: int = 0
    kernel: str = ""
    version: str = ""  # bottlenecktop version
    python: str = ""
    command_line: list[str] = []  # secrets in headers redacted
    target: Target = msgspec.field(default_factory=Target)
    slo: Slo = msgspec.field(default_factory=Slo)
    interval: float = 1.0  # seconds per tick
    demo: dict[str, str] = {}  # demo kind and knobs, when the target is the bundled demo
    driver_pid: int | None = None
    self_pid: int | None = None
    remote_sources: list[str] = []  # exporters and Prometheus servers read (no userinfo): the target's nodes
    ramp: RampInfo | None = None  # a ramp's plan (ramp and demo modes)


class Event(msgspec.Struct, kw_only=True):
    """Something that happened in a tick, said once: its kind decides what is done with it, the text is for a
    person ("target pid 4242 exited at 12 s", "py-spy: permission denied")."""

    kind: EventKind = "other"
    text: str = ""


class Frame(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Everything measured in one tick. Optional parts are None when their probe is off or has nothing."""

    t: float  # end of the tick, session clock seconds
    load: LoadSecond | None = None  # the driver's last interval in this tick
    step: StepResult | None = None  # a ramp step that finished in this tick
    outcome: RampOutcome | None = None  # set on the tick the ramp ended
    node: NodeSample | None = None
    target: ProcSample | None = None  # the attached process (with children)
    driver: ProcSample | None = None  # the load driver's process
    self_proc: ProcSample | None = None  # bottlenecktop's own process
    stacks: StackWindow | None = None  # a stack window that closed in this tick
    waits: WaitSample | None = None  # the target's kernel wait states over the sweeps since the last tick
    peers: PeersSample | None = None  # the target's connections: requests outstanding per downstream (tcp_info)
    cgroup: CgroupSample | None = None  # the target's cgroup: quota, throttling, memory limit, pressure
    peer_procs: list[ProcSample] = []  # the local processes behind the target's downstream peers (peers.downstream)
    marks: list[str] = []  # marks a person set in this tick
    events: list[Event] = []  # things that happened in this tick
    remote: list[RemoteSample] = []  # the target's nodes seen through Prometheus exporters, one per host


def frame_from_legacy(line: bytes) -> Frame:
    """A frame record written before events had a kind (each event a plain string): the strings become events
    of kind "other". Raises msgspec.ValidationError when the record does not fit a Frame either way."""
    raw: Any = msgspec.json.decode(line)
    if isinstance(raw, dict) and isinstance(raw.get("events"), list):
        raw["events"] = [{"kind": "other", "text": e} if isinstance(e, str) else e for e in raw["events"]]
    return msgspec.convert(raw, Frame, strict=False)  # strict=False: "NaN" and "Infinity" read as floats


Listener = Callable[[Frame], object]


class Session:
    """The timeline of one run: a header and the frames so far (with ``keep_frames``, only the last ones).

    Appends come from one thread (the tick loop); readers on other threads take ``snapshot()``.
    """

    def __init__(self, header: Header, *, keep_frames: int | None = None) -> None:
        self.header = header
        self.frames: list[Frame] = []
        self.keep_frames = keep_frames  # None: every frame
        self.dropped = 0  # frames let go from the head so far (the recording still has them)
        self.verdict: Verdict | None = None  # the final verdict, once the run is over
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._verdict_listeners: list[Callable[[Verdict], object]] = []

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(frame)`` after each append, on the appending thread."""
        self._listeners.append(listener)

    def subscribe_verdict(self, listener: Callable[[Verdict], object]) -> None:
        """Call ``listener(verdict)`` once the run is over and its verdict is known, on the finishing thread."""
        self._verdict_listeners.append(listener)

    def set_verdict(self, verdict: Verdict) -> None:
        self.verdict = verdict
        for listener in self._verdict_listeners:
            listener(verdict)

    def append(self, frame: Frame) -> None:
        with self._lock:
            self.frames.append(frame)
            if self.keep_frames is not None and len(self.frames) > self.keep_frames:
                del self.frames[0]  # a few thousand pointers moved: cheaper than the tick's copy in snapshot()
                self.dropped += 1
        for listener in self._listeners:
            listener(frame)

    def snapshot(self) -> list[Frame]:
        """A copy of the frame list, safe to read while the run goes on."""
        with self._lock:
            return list(self.frames)
