"""The driver process: ``python -m bottlenecktop.probes.load.worker``, configured and commanded over stdin,
reporting on stdout.

It runs the ramp (load.ramp) over an engine (load.engines) on its own event loop, sends one
LoadSecond about every second, a StepResult per step and exactly one RampOutcome, and exits by itself when its
parent goes away (stdin closes, or the parent pid changes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from types import ModuleType

from bottlenecktop.probes.load import wire as load_wire
from bottlenecktop.probes.load.target import BadTarget
from bottlenecktop.probes.load.worker.agent import AgentWorker
from bottlenecktop.probes.load.worker.channel import Channel
from bottlenecktop.probes.load.worker.controller import LocalRampController
from bottlenecktop.probes.samples import RampOutcome


def main() -> int:
    # Ctrl-C reaches the whole foreground process group; the parent decides, and tells us to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out_fd = os.dup(1)
    os.dup2(2, 1)  # a stray print must never corrupt the message stream
    channel = Channel(out_fd)
    try:
        config = channel.read_config()
    except (EOFError, OSError, ValueError) as exc:
        print(f"load driver: no configuration ({exc})", file=sys.stderr)
        return 2
    try:
        kind = AgentWorker if config.agent else LocalRampController
        worker: LocalRampController | AgentWorker = kind(config, channel.send)
    except BadTarget as exc:
        channel.send("e", str(exc))
        channel.send("o", RampOutcome(t=time.monotonic() - config.t0, reason="bad-target"))
        return 2

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, worker.command, "stop", None)
        for kind, raw in channel.pending:
            if kind == "c":
                worker.command(*load_wire.decode_payload(kind, raw))

        def readable() -> None:
            try:
                chunk = os.read(0, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:  # the parent closed our stdin: it is gone or wants us gone
                loop.remove_reader(0)
                worker.parent_gone = True
                return
            channel.buffer += chunk
            for kind, raw in load_wire.split(channel.buffer):
                if kind == "c":
                    name, value = load_wire.decode_payload(kind, raw)
                    worker.command(name, value)

        os.set_blocking(0, False)
        loop.add_reader(0, readable)
        await worker.run()

    uvloop: ModuleType | None
    try:
        import uvloop
    except ImportError:
        uvloop = None
    try:
        if uvloop is not None:
            uvloop.run(run())
        else:
            asyncio.run(run())
    except Exception as exc:  # one line for the person, and still exactly one outcome
        channel.send("e", f"load driver failed: {type(exc).__name__}: {exc}")
        if not channel.outcome_sent:
            channel.send("o", RampOutcome(t=time.monotonic() - config.t0, reason="driver-error"))
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
