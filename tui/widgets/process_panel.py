"""The attached process: pid, threads, RSS, fds against the limit, and the driver beside it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from bottlenecktop.probes.samples import AgentFigures, ProcSample
from bottlenecktop.tui.widgets.text_lines import TextLines


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB' (binary units, like top)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def render_agents(text: Text, agents: Sequence[AgentFigures]) -> None:
    """Several load agents: one line each for the second shown (req/s, its driver's CPU, late requests)."""
    for a in agents:
        late = a.late > 0 or a.lost
        style = "bold red" if late else "grey50"
        what = "LOST" if a.lost else f"{a.achieved_rps:,.0f}/s cpu {a.cpu_pct:.0f}% late {a.late}"
        text.append(f"\nagent {a.agent} {a.host}: {what}", style=style)


def render_process(target: ProcSample | None, driver: ProcSample | None,
                   agents: Sequence[AgentFigures] = ()) -> Text:
    if target is None:
        text = Text("no process attached", style="grey50", no_wrap=True, overflow="ellipsis")
        render_agents(text, agents)
        return text
    text = Text(no_wrap=True, overflow="ellipsis")
    state = "" if target.alive else "  EXITED"
    text.append(f"pid {target.pid} {target.name}", style="bold")
    text.append(state + "\n", style="bold red")
    text.append(f"cpu {target.cpu_pct:.0f}% · threads {target.num_threads or len(target.threads)}\n")
    if target.threads:
        top = target.threads[0]
        style = "bold red" if top.cpu_pct >= 90 else ""
        text.append(f"busiest {top.name or top.tid} {top.cpu_pct:.0f}% of a core\n", style=style)
    growth = f" ({'+' if target.rss_growth_bps >= 0 else ''}{human_bytes(target.rss_growth_bps)}/s)" \
        if target.rss_growth_bps else ""
    text.append(f"rss {human_bytes(target.rss)}{growth}\n")
    if target.fd_limit:
        share = target.fds / target.fd_limit
        style = "bold red" if share >= 0.9 else "yellow" if share >= 0.7 else ""
        text.append(f"fds {target.fds} / {target.fd_limit} ({share:.0%})\n", style=style)
    else:
        text.append(f"fds {target.fds}\n")
    text.append(f"ctx {target.ctx_voluntary:,.0f} vol/s · {target.ctx_involuntary:,.0f} invol/s")
    if driver is not None:
        text.append(f"\ndriver pid {driver.pid} cpu {driver.cpu_pct:.0f}%", style="grey50")
    render_agents(text, agents)
    return text


class ProcessPanel(TextLines):
    _shown: tuple[int, int, int] | None = None

    def show_process(self, target: ProcSample | None, driver: ProcSample | None,
                     agents: Sequence[AgentFigures] = ()) -> None:
        key = (id(target), id(driver), id(agents))
        if key != self._shown:  # replay cursor moves and resizes often leave the sample as it was
            self._shown = key
            # only the changed lines are repainted (TextLines)
            self.show_text(render_process(target, driver, agents))
