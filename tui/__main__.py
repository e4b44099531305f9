"""Preview the screen over a synthetic session: ``python -m bottlenecktop.tui [--mode live|replay|compare|observe]``.

``live`` appends one synthetic frame a second from a thread, like the runner's tick loop; it is also what the
idle-cost benchmark runs in tmux.
"""

from __future__ import annotations

import argparse
import threading

from bottlenecktop.session import Session
from bottlenecktop.tui.app import BottleneckApp
from bottlenecktop.tui.synthetic import synthetic_frame, synthetic_header, synthetic_session


class PrintController:
    """Keeps the commands it is sent (the preview has no run to steer)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, float | str | None]] = []

    def command(self, name: str, value: float | str | None = None) -> None:
        self.sent.append((name, value))


def feed(session: Session, stop: threading.Event, *, ramp: bool, interval: float, start: int) -> None:
    """Append one frame per ``interval`` seconds until ``stop`` (bounded: at most one day of ticks)."""
    for t in range(start, start + 86_400):
        if stop.wait(interval):
            return
        session.append(synthetic_frame(t, ramp=ramp))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bottlenecktop.tui", description=__doc__)
    parser.add_argument("--mode", choices=("live", "observe", "replay", "compare"), default="live")
    parser.add_argument("--seconds", type=int, default=30, help="synthetic history before the screen opens")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between live frames")
    args = parser.parse_args()
    if args.mode in ("live", "observe"):
        ramp = args.mode == "live"
        session = Session(synthetic_header("demo" if ramp else "observe", url=None if not ramp else
                                           "http://127.0.0.1:8000/", pid=None if not ramp else 4242))
        for t in range(args.seconds):
            session.append(synthetic_frame(t, ramp=ramp))
        stop = threading.Event()
        thread = threading.Thread(target=feed, args=(session, stop), daemon=True,
                                  kwargs={"ramp": ramp, "interval": args.interval, "start": args.seconds})
        app = BottleneckApp(session, PrintController(), mode="live")
        thread.start()
        try:
            return app.run() or 0
        finally:
            stop.set()
    finished = synthetic_session(args.seconds or 40, finished=True)
    if args.mode == "replay":
        return BottleneckApp(finished, mode="replay").run() or 0
    other = synthetic_session(max(10, (args.seconds or 40) - 5), finished=True)
    return BottleneckApp(finished, mode="compare", compare_with=other).run() or 0


if __name__ == "__main__":
    raise SystemExit(main())
