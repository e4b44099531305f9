"""A closed loop at full speed over one engine, for benchmarks/driver_vs_wrk.py (the same job as wrk -c N).

``python benchmarks/closed_loop.py URL --connections 32 --seconds 5 [--engine curl] [--http2]`` prints one JSON line:
requests, errors, seconds, cpu_seconds of this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from bottlenecktop.probes.load.config import DriverConfig
from bottlenecktop.probes.load.engines import make_engine
from bottlenecktop.probes.load.stats import Window
from bottlenecktop.probes.load.target import build_target


async def closed_loop(
    url: str, connections: int, seconds: float, engine_name: str = "fast", http2: bool = False
) -> dict[str, float]:
    """Keep ``connections`` requests outstanding for ``seconds``; count what completed."""
    config = DriverConfig(url=url, max_connections=connections, engine=engine_name, http2=http2, insecure=True)
    engine = make_engine(config, build_target(url))
    engine.set_concurrency(connections)
    await asyncio.sleep(0.5)  # connections open and warm up outside the measured window
    engine.take_tally()
    start, cpu0 = time.monotonic(), time.process_time()
    second = Window(start)
    while time.monotonic() - start < seconds:
        await asyncio.sleep(0.1)
        # What the driver's controller does every tenth of a second: fold the hot path's lists into histograms.
        second.merge(Window.of(engine.take_tally(), time.monotonic()))
    second.merge(Window.of(engine.take_tally(), time.monotonic()))
    elapsed, cpu = time.monotonic() - start, time.process_time() - cpu0
    result = {
        "requests": second.completed,
        "errors": second.error_count,
        "seconds": elapsed,
        "cpu_seconds": cpu,
    }
    engine.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--engine", choices=("fast", "curl"), default="fast")
    parser.add_argument("--http2", action="store_true", help="HTTP/2 (curl engine; prior knowledge over http://)")
    args = parser.parse_args()
    coro = closed_loop(args.url, args.connections, args.seconds, args.engine, args.http2)
    if args.no_uvloop:
        result = asyncio.run(coro)
    else:
        import uvloop

        result = uvloop.run(coro)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
