"""Where the target's thread-time goes: the kernel's view of every thread (any language), the threads grouped
by pool with the leading state of each and where it sits, and the top Python functions (own, total %)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.text import Text

from bottlenecktop.probes.samples import StackWindow, ThreadState, WaitSample
from bottlenecktop.tui.widgets.text_lines import TextLines

WAIT_STYLES = {"lock": "red", "socket": "magenta", "disk": "yellow", "sleep": "grey50", "select": "grey50",
               "other": "grey50"}


IDLE = ("sleep", "select")  # a worker waiting for work: not where the time goes
IDLE_LEAD_PCT = 5.0  # a pool mostly idle is said to be idle unless something else takes this much of its time
GIL_WAIT = "GIL wait"
STATE_STYLES = {"run": "green", GIL_WAIT: "dark_orange", **WAIT_STYLES}
KERNEL_STYLES = {"running": "green", "futex": "red", "socket": "magenta", "disk": "yellow", "sleep": "grey50",
                 "idle": "grey50", "other": "grey50"}


def pool_of(name: str) -> str:
    """The pool a thread belongs to, from its name: ``Thread-104 (process_request_thread)`` ->
    ``process_request_thread``, ``ThreadPoolExecutor-0_3`` -> ``ThreadPoolExecutor-N_N``, ``MainThread`` as is."""
    inner = re.search(r"\(([^()]+)\)\s*$", name)
    if inner:
        return inner.group(1)
    return re.sub(r"\d+", "N", name) or "?"


@dataclass
class Pool:
    name: str
    threads: list[ThreadState] = field(default_factory=list)

    @property
    def samples(self) -> int:
        return sum(t.samples for t in self.threads)

    def shares(self) -> dict[str, float]:
        """% of the pool's thread-time per state: run (holding the GIL when that is known), GIL wait, each wait
        class, idle (sleep and select together)."""
        total = self.samples or 1
        run = gil_wait = 0.0
        for t in self.threads:
            # py-spy's dumps say how often the thread held the GIL: running Python code without it is waiting
            # for it (a thread in C code that released the GIL looks the same; the label says "GIL wait").
            held = t.running_pct if t.gil_pct is None else min(t.running_pct, t.gil_pct)
            run += held * t.samples
            gil_wait += (t.running_pct - held) * t.samples
        out: dict[str, float] = {"run": run / total}
        if gil_wait > 0:
            out[GIL_WAIT] = gil_wait / total
        for t in self.threads:
            for kind, pct in t.waits.items():
                key = "idle" if kind in IDLE else kind
                out[key] = out.get(key, 0.0) + pct * t.samples / total
        return out

    def where(self, state: str) -> str:
        """The frame the pool's threads in ``state`` most often sit in."""
        kinds = IDLE if state == "idle" else (state,)

        def share(t: ThreadState) -> float:
            return sum(t.waits.get(k, 0.0) for k in kinds)

        best = max(self.threads, key=lambda t: t.samples * share(t), default=None)
        return best.top_wait if best is not None and share(best) > 0 else ""


def pools(threads: Sequence[ThreadState]) -> list[Pool]:
    """Threads grouped by pool, the pool with the most thread-time first."""
    by_name: dict[str, Pool] = {}
    for t in threads:
        by_name.setdefault(pool_of(t.name or str(t.tid)), Pool(pool_of(t.name or str(t.tid)))).threads.append(t)
    return sorted(by_name.values(), key=lambda p: -p.samples)


def pool_line(pool: Pool, hot_function: str = "") -> Text:
    """``process_request_thread x176: lock 61 % of thread-time, in work (work.py:57) · run 3% · idle 34%``."""
    shares = pool.shares()
    busy = {k: v for k, v in shares.items() if k != "idle"}
    lead = max(busy, key=lambda k: busy[k]) if busy else "idle"
    if busy.get(lead, 0.0) < IDLE_LEAD_PCT and shares.get("idle", 0.0) > busy.get(lead, 0.0):
        lead = "idle"  # a pool waiting for work: a few per cent of running is not its story
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{pool.name} ×{len(pool.threads)}: ", style="bold")
    text.append(f"{lead} {shares.get(lead, 0.0):.0f} % of thread-time", style=STATE_STYLES.get(lead, "bold"))
    where = hot_function if lead in ("run", GIL_WAIT) else pool.where(lead)
    if where:
        text.append(f", in {where}")
    for kind, pct in sorted(shares.items(), key=lambda kv: -kv[1]):
        if kind != lead and pct >= 1:
            text.append(f" · {kind} {pct:.0f}%", style=STATE_STYLES.get(kind, "grey50"))
    return text


def kernel_line(waits: WaitSample) -> Text:
    """``kernel: futex 61% · running 3% · socket 2% (127.0.0.1:5432) · idle 34% · 176 threads``: any language."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("kernel: ", style="bold")
    first = True
    for kind, pct in sorted(waits.waits.items(), key=lambda kv: -kv[1]):
        if pct < 1:
            continue
        text.append("" if first else " · ")
        first = False
        text.append(f"{kind} {pct:.0f}%", style=KERNEL_STYLES.get(kind, ""))
        if kind == "socket":
            peer = next((p for p in waits.peers if p.role == "downstream"), None)
            if peer is not None:
                text.append(f" ({peer.peer})")
    text.append(f" · {waits.threads:.0f} threads", style="grey50")
    return text


def render_stacks(window: StackWindow | None, rows: int, waits: WaitSample | None = None) -> Text:
    """What fits in ``rows`` lines: the kernel's line, one line per pool (where the thread-time goes), then the
    top functions (where in the code). One Text, a line per row (the panel cuts each at its edge): a rich Table
    and Group took most of the screen's time per tick."""
    kernel = [kernel_line(waits)] if waits is not None and waits.waits and not waits.error else []
    if window is None or window.error:
        note = (Text("no stacks yet (py-spy samples the target once it is attached)", style="grey50")
                if window is None else Text(f"no stacks: {window.error}", style="yellow"))
        return Text("\n").join([*kernel, note])
    gil = "" if window.gil_pct is None else f" · GIL held {window.gil_pct:.0f}%"
    head = Text(f"pid {window.pid} · {window.samples} samples · {window.t_start:.0f}-{window.t_end:.0f} s{gil}",
                style="grey50", no_wrap=True, overflow="ellipsis")
    groups = pools(window.threads)
    n_pools = min(len(groups), max(1, (rows - len(kernel)) // 3))
    n_funcs = max(1, rows - 2 - len(kernel) - n_pools)
    table = [Text(f"{'own%':>5} {'tot%':>5} function", style="bold")]
    table += [Text(f"{fn.own_pct:>5.0f} {fn.total_pct:>5.0f} {fn.name}") for fn in window.functions[:n_funcs]]
    # The top function is where the running time goes: said on the pool that runs the most.
    hot = window.functions[0].name if window.functions else ""
    def busy(p: Pool) -> float:
        shares = p.shares()
        return (shares["run"] + shares.get(GIL_WAIT, 0.0)) * p.samples

    runner = max(groups, key=busy, default=None)
    lines = [pool_line(p, hot if p is runner else "") for p in groups[:n_pools]]
    return Text("\n").join([head, *kernel, *lines, *table])


class StacksPanel(TextLines):
    _shown: tuple[int, int, int] | None = None  # (id of the window, of the waits, rows) last rendered

    def show_window(self, window: StackWindow | None, waits: WaitSample | None = None) -> None:
        """Re-render only when a new window closed, new waits came or the panel was resized."""
        rows = max(3, self.content_size.height or 8)
        key = (id(window), id(waits), rows)
        if key != self._shown:
            self._shown = key
            self.show_text(render_stacks(window, rows, waits))
