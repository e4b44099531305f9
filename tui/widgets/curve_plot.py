"""Two runs' latency-throughput curves overlaid: p99 (ms) and achieved (req/s) against offered req/s."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from bottlenecktop.probes.samples import StepResult
from bottlenecktop.tui.palette import RGB, hex_of

A_P99: RGB = (0, 210, 210)
A_ACHIEVED: RGB = (70, 140, 255)
B_P99: RGB = (255, 165, 0)
B_ACHIEVED: RGB = (255, 90, 90)


class CurvePlot(PlotextPlot):
    def draw_runs(self, a: list[StepResult], b: list[StepResult]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        colors = ((A_P99, A_ACHIEVED), (B_P99, B_ACHIEVED))
        for steps, (p99, achieved) in zip((a, b), colors, strict=True):
            steps = sorted(steps, key=lambda s: s.offered_rps)
            if steps:
                xs = [s.offered_rps for s in steps]
                plt.plot(xs, [s.p99_ms for s in steps], color=p99, marker="hd")
                plt.plot(xs, [s.achieved_rps for s in steps], color=achieved, marker="dot", yside="right")
        plt.xlabel("offered req/s")
        self.border_title = "   ".join(f"[{hex_of(c)}]{label}[/]" for c, label in (
            (A_P99, "━ A p99 ms (left)"), (A_ACHIEVED, "· A achieved req/s (right)"),
            (B_P99, "━ B p99 ms"), (B_ACHIEVED, "· B achieved req/s")))
        self.refresh()
