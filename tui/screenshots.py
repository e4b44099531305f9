"""Make the images in screenshots/ from the real app over recordings of real runs:
``python -m bottlenecktop.tui.screenshots --recording NAME-WxH=FILE[@KEY+KEY] ...`` (the replay screen after the
keys, e.g. ``k`` for the knee or ``question_mark`` for help; ``A,B`` for the compare screen). screenshots/ holds
real runs only; the synthetic feed stays in the snapshot tests.

SVG from the app's save_screenshot; PNG too, drawn by a headless chromium (Debian: chromium), which honours the
SVG's per-run text lengths, else by ``rsvg-convert`` (Debian: librsvg2-bin), which squeezes runs of spaces.
"""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bottlenecktop.tui.app import BottleneckApp

OUT = Path(__file__).resolve().parent.parent / "screenshots"


CASES: dict[str, tuple[Callable[[], BottleneckApp], tuple[int, int], tuple[str, ...]]] = {}


def recording_case(paths: list[Path], size: tuple[int, int], keys: tuple[str, ...] = ()) -> tuple[
        Callable[[], BottleneckApp], tuple[int, int], tuple[str, ...]]:
    """The replay screen over a real recording after KEYS (none: at its end); with two recordings, compare."""
    from bottlenecktop.analysis.verdict import verdict_of
    from bottlenecktop.recording import read_recording, session_from_recording
    from bottlenecktop.session import Session

    def load(path: Path) -> Session:
        rec = read_recording(path)
        session = session_from_recording(rec)
        session.verdict = verdict_of(rec.header, rec.frames, rec.verdict)
        return session

    def make() -> BottleneckApp:
        if len(paths) == 2:
            return BottleneckApp(load(paths[0]), mode="compare", compare_with=load(paths[1]))
        return BottleneckApp(load(paths[0]), mode="replay")

    return make, size, keys


async def shoot(name: str) -> Path:
    make, size, keys = CASES[name]
    app = make()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        app.save_screenshot(f"{name}.svg", path=str(OUT))
    return OUT / f"{name}.svg"


# No sandbox as root, no GPU, and none of chromium's own network traffic (also used by the report's browser test).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars")


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def to_png(svg: Path) -> bool:
    """SVG -> PNG beside it, by chromium or rsvg-convert; False when neither is installed."""
    png = svg.with_suffix(".png")
    chromium = chromium_binary()
    box = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg.read_text(encoding="utf-8")[:500])
    if chromium and box:
        width, height = (math.ceil(float(v)) for v in box.groups())
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                            f"--window-size={width},{height}", svg.resolve().as_uri()],
                           check=True, capture_output=True, timeout=120)
        return True
    rsvg = shutil.which("rsvg-convert")
    if rsvg:
        subprocess.run([rsvg, str(svg), "-o", str(png)], check=True)
        return True
    return False


def main() -> int:
    OUT.mkdir(exist_ok=True)
    if sys.argv[1:2] != ["--recording"] or len(sys.argv) < 3:
        print("usage: python -m bottlenecktop.tui.screenshots --recording NAME-WxH=FILE[,FILE2][@KEY+KEY] ...",
              file=sys.stderr)
        return 2
    names = []
    for item in sys.argv[2:]:  # NAME-WxH=FILE[,FILE2][@KEY+KEY...]
        name, _, spec = item.partition("=")
        files, _, keys = spec.partition("@")
        w, h = name.rsplit("-", 1)[-1].split("x")
        CASES[name] = recording_case([Path(f) for f in files.split(",")], (int(w), int(h)),
                                     tuple(k for k in keys.split("+") if k))
        names.append(name)
    for name in names:
        svg = asyncio.run(shoot(name))
        made = to_png(svg)
        print(svg.with_suffix(".png" if made else ".svg"))
        if not made:
            print("neither chromium nor rsvg-convert is installed: SVG only", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
