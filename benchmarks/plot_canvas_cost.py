"""What one tick's plots cost to draw: the load plot's picture (four lines, steps, errors) and the resources'
(five lines) at the panel sizes of a 160x48 and an 80x24 screen, drawn by plotext (what the plots used) and by
bottlenecktop.tui.plot_canvas (what they use), from the same points.

    .venv/bin/python benchmarks/plot_canvas_cost.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import math
import time

import plotext

from bottlenecktop.tui.plot_canvas import Axis, PlotCanvas

COLOURS = [(140, 140, 140), (120, 210, 80), (80, 200, 230), (255, 165, 0), (70, 140, 255)]


def series(points: int, k: int) -> tuple[list[float], list[float]]:
    """A ramp-like line: steps every 10 s with noise, in 0..1000."""
    xs = [float(i) for i in range(points)]
    ys = [min(1000.0, 100.0 * (1 + i // 10) * (1 + 0.05 * math.sin(i * (k + 1)))) for i in range(points)]
    return xs, ys


def with_plotext(width: int, height: int, lines: list[tuple[list[float], list[float]]], steps: list[float]) -> None:
    plt = plotext._figure._figure_class()  # one figure, as each plot widget owns one
    plt.plotsize(width, height)
    plt.frame(False)
    plt.xlim(0, len(lines[0][0]))
    ys_col = [1000.0 * r / (height - 1) for r in range(height)]
    plt.scatter([x for x in steps for _ in ys_col], ys_col * len(steps), color=(90, 90, 90), marker="│")
    for i, (xs, ys) in enumerate(lines):
        plt.plot(xs, ys, color=COLOURS[i % len(COLOURS)], marker="hd")
    plt.ylim(0, 1000)
    plt.yticks([0, 250, 500, 750, 1000], ["0", "250", "500", "750", "1k"])
    plt.build()


def with_canvas(width: int, height: int, lines: list[tuple[list[float], list[float]]], steps: list[float]) -> None:
    axis = Axis(1000.0, [0, 250, 500, 750, 1000], ["0", "250", "500", "750", "1k"])
    c = PlotCanvas(width, height, 0.0, float(len(lines[0][0])), axis, axis, 5)
    c.columns(steps, (90, 90, 90))
    for i, (xs, ys) in enumerate(lines):
        c.line(xs, ys, COLOURS[i % len(COLOURS)])
    c.rows_of_runs()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    print(f"{'plot (cells)':<16} {'lines':>5} {'plotext ms':>11} {'canvas ms':>10} {'ratio':>6}")
    for width, height in ((120, 19), (80, 5)):  # the load plot at 160x48, at 80x24
        for n_lines in (4, 5):
            points = 2 * width  # the widget's downsampling cap
            lines = [series(points, k) for k in range(n_lines)]
            steps = [float(s) for s in range(0, points, 10)]
            cost = {}
            for name, draw in (("plotext", with_plotext), ("canvas", with_canvas)):
                draw(width, height, lines, steps)  # warm
                start = time.perf_counter()
                for _ in range(args.repeat):
                    draw(width, height, lines, steps)
                cost[name] = (time.perf_counter() - start) / args.repeat * 1000
            print(f"{f'{width}x{height}':<16} {n_lines:>5} {cost['plotext']:>11.2f} {cost['canvas']:>10.2f} "
                  f"{cost['plotext'] / cost['canvas']:>5.1f}x")


if __name__ == "__main__":
    main()
