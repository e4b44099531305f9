"""The per-agent part of the verdict (load.agents): figures at the magic number's step, a lost agent, and which
agent was the limit with how many the next run needs."""

from __future__ import annotations

import msgspec

from bottlenecktop.analysis.agents import suggested_agents
from bottlenecktop.analysis.verdict import build_verdict
from bottlenecktop.probes.samples import AgentFigures
from tests.support.timeline_builder import TimelineBuilder, header, node, proc


def _with_agents(b: TimelineBuilder, agents: list[AgentFigures], frames: int) -> None:
    """Give the last ``frames`` load seconds these per-agent figures."""
    for frame in b.frames[-frames:]:
        if frame.load is not None:
            frame.load = msgspec.structs.replace(frame.load, agents=agents)


def test_suggested_agents_follow_cpu_and_lateness() -> None:
    assert suggested_agents(2, peak_cpu_pct=95.0, late_share=0.0) == 4  # two at ~50 % each instead of one at 95
    assert suggested_agents(2, peak_cpu_pct=2.0, late_share=0.75) == 8  # it sent a quarter on time
    assert suggested_agents(2, peak_cpu_pct=10.0, late_share=0.01) == 3  # never fewer than one more
    assert suggested_agents(1, peak_cpu_pct=1.0, late_share=1.0) == 20  # bounded when nothing was on time


def test_a_late_agent_on_a_starved_host_is_named_with_its_host() -> None:
    b = TimelineBuilder(header(ncpu=2))
    fine = AgentFigures(agent=0, host="a (10.0.0.1)", pid=11, offered_rps=300, achieved_rps=300, sent=300, ok=300,
                        cpu_pct=5.0)
    slow = AgentFigures(agent=1, host="b (10.0.0.2)", pid=22, offered_rps=300, achieved_rps=200, sent=300, ok=200,
                        cpu_pct=2.0, late=240, lag_p99_ms=900.0)
    b.step(600, p99=20, node=node(busy=10, ncpu=2), target=proc(cpu=5))
    _with_agents(b, [fine, msgspec.structs.replace(slow, late=0, achieved_rps=300, ok=300)], 5)
    b.step(1200, achieved=900, p99=900, node=node(busy=10, ncpu=2), target=proc(cpu=5), late=240,
           sustained=False, reason="driver")
    _with_agents(b, [fine, slow], 5)
    b.outcome(600, p99=20, reason="driver", driver_limited=True)
    v = build_verdict(b.header, b.frames).to_json_dict()
    load = v["load"]
    assert load["count"] == 2 and load["at_rps"] == 600
    assert [a["achieved_rps"] for a in load["agents"]] == [300, 300]  # at the magic number's step
    assert load["agents"][1]["late"] == 5 * 240
    assert load["limiting_agent"] == 1
    assert load["suggested_agents"] >= 3
    assert "load agent 1 on b (10.0.0.2) was the limit" in load["limit"]
    assert "its host gave it too little" in load["limit"]
    assert v["bottleneck"]["resource"] == "load-driver"


def test_an_agent_lost_before_its_first_second_is_still_listed() -> None:
    b = TimelineBuilder(header(ncpu=2))
    first = AgentFigures(agent=0, host="a", pid=11, offered_rps=100, achieved_rps=100, sent=100, ok=100, cpu_pct=3.0)
    b.step(100, p99=10, node=node(busy=10, ncpu=2), target=proc(cpu=5))
    _with_agents(b, [first], 5)
    out = b.outcome(100, p99=10, reason="max-rps")
    out.agents = [first, AgentFigures(agent=1, host="b", pid=22, lost=True)]
    v = build_verdict(b.header, b.frames).to_json_dict()
    agents = v["load"]["agents"]
    assert [(a["agent"], a["lost"]) for a in agents] == [(0, False), (1, True)]
    assert agents[1]["host"] == "b" and agents[1]["pid"] == 22


def test_the_magic_step_cut_to_its_warm_up_second_still_gives_the_agents_figures() -> None:
    # --max-time ended the ramp one judged second into its best step: the figures come from what it has.
    b = TimelineBuilder(header(ncpu=2))
    fine = AgentFigures(agent=0, host="a", pid=11, offered_rps=300, achieved_rps=300, sent=300, ok=300, cpu_pct=4.0)
    slow = AgentFigures(agent=1, host="b", pid=22, offered_rps=300, achieved_rps=280, sent=300, ok=280, cpu_pct=1.0,
                        late=200)
    b.step(1200, achieved=800, p99=900, node=node(busy=10, ncpu=2), target=proc(cpu=5), late=400,
           sustained=False, reason="driver")
    _with_agents(b, [fine, slow], 5)
    b.step(600, p99=20, node=node(busy=10, ncpu=2), target=proc(cpu=5), seconds=1, phase="searching")
    _with_agents(b, [fine, slow], 1)
    b.outcome(600, p99=20, reason="max-time", driver_limited=True)
    load = build_verdict(b.header, b.frames).to_json_dict()["load"]
    assert load["at_rps"] == 600
    assert [a["achieved_rps"] for a in load["agents"]] == [300, 280]
