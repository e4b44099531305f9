"""Two runs' latency-throughput curves overlaid: p99 (ms) and achieved (req/s) against offered req/s."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from probes.samples import StepResult


class CurvePlot(PlotextPlot):
    def draw_runs(self, a: list[StepResult], b: list[StepResult]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        for steps, color, dim in ((a, "cyan", "blue"), (b, "orange", "red")):
            steps = sorted(steps, key=lambda s: s.offered_rps)
            if steps:
                xs = [s.offered_rps for s in steps]
                plt.plot(xs, [s.p99_ms for s in steps], color=color, marker="hd")
                plt.plot(xs, [s.achieved_rps for s in steps], color=dim, marker="dot", yside="right")
        plt.xlabel("offered req/s")
        self.border_title = ("[cyan]━ A p99 ms[/]  [blue]· A achieved/s[/]   "
                             "[orange]━ B p99 ms[/]  [red]· B achieved/s[/]")
        self.refresh()
