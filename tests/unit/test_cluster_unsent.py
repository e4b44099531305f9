"""The cluster controller counts the arrivals a stalled agent never got to as late: it looks idle, not busy."""

from __future__ import annotations

from bottlenecktop.probes.load.cluster.controller import unsent_arrivals
from bottlenecktop.probes.load.cluster.merge import AgentTotals, StepTotals


def test_a_stalled_agent_owes_its_stripe_and_an_on_time_one_owes_nothing() -> None:
    st = StepTotals(seconds=2.0, agents={0: AgentTotals(seconds=2.0, offered=1200),
                                         1: AgentTotals(seconds=2.0, offered=150)})
    assert unsent_arrivals(1200.0, st, [0, 1]) == {1: 1050}


def test_the_schedule_own_variation_is_not_a_shortfall() -> None:
    st = StepTotals(seconds=2.0, agents={0: AgentTotals(seconds=2.0, offered=1185),
                                         1: AgentTotals(seconds=2.0, offered=1212)})
    assert unsent_arrivals(1200.0, st, [0, 1]) == {}


def test_an_agent_that_reported_none_of_the_judged_seconds_owes_its_whole_stripe() -> None:
    # A starved agent reports when it runs: its late report covers several grid seconds under the last one's
    # number, so the judged seconds were merged without it, and the on-time agent must not be the one blamed.
    st = StepTotals(seconds=1.0, agents={0: AgentTotals(seconds=1.0, offered=1201)})
    assert unsent_arrivals(2400.0, st, [0, 1]) == {1: 1200}
