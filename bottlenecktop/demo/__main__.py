"""``python -m bottlenecktop.demo [--bottleneck KIND] [key=value ...]``: run a demo server until Ctrl-C.

With ``--child`` it is the server process itself, started by the launcher (internal).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from bottlenecktop.demo.kinds import DEMO_KINDS, parse_demo_options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bottlenecktop.demo", description=__doc__)
    parser.add_argument("--bottleneck", default="cpu", choices=DEMO_KINDS, help="which bottleneck to build in")
    parser.add_argument("options", nargs="*", metavar="key=value", help="knobs of the kind, e.g. workers=8")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--downstream", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        options = parse_demo_options(args.bottleneck, args.options)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.child:
        from bottlenecktop.demo.child import run_child

        try:
            run_child(args.bottleneck, options, args.parent_pid, args.downstream)
        except Exception as exc:  # one line for the launcher to show
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        return 0

    from bottlenecktop.demo.launcher import start_demo

    try:
        demo = start_demo(args.bottleneck, options)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # Started from a script in the background, SIGINT arrives ignored; this server runs until Ctrl-C, so take it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(f"{demo.url}  pid {demo.pid}  {demo.description}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        demo.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
