"""The ramp as a pure state machine: which step to run next, given how the last one went.

Open model: geometric steps of constant arrival rate until a step is not sustained, back off at once, bisect
between the last sustained and the first failed rate, then hold the best rate to confirm it. Closed model:
fixed concurrency steps until latency or errors fail or throughput stops growing, then hold the best.
No clock, no I/O: the worker measures, this decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bottlenecktop.probes.samples import RampEndReason, RampOutcome, StepFailure, StepPhase, StepResult

# A step is sustained when at least this share of the offered requests came back ok.
ACHIEVED_SHARE = 0.95
# ... and the shortfall is more than this many requests (a few boundary requests at low rates are noise).
ACHIEVED_SLACK = 3
# A step with at least this error rate means the target is not answering: end at once, do not search.
DEAD_ERROR_RATE = 0.99
# Closed model: a step whose throughput grows less than this over the best so far is a plateau.
PLATEAU_GAIN = 1.05
# How many times a failed confirmation retries, each at RETRY_FACTOR of its rate (open model): two retries reach
# 90 %, and a hold that failed just above the limit is retried close to it (the answer stays within 5 %).
CONFIRM_RETRIES = 2
RETRY_FACTOR = 0.95


@dataclass(frozen=True)
class RampSettings:
    start_rps: float = 10.0
    step_factor: float = 1.5
    step_seconds: float = 3.0
    confirm_seconds: float = 5.0
    search_steps: int = 3
    max_rps: float | None = None
    slo_p99_ms: float = 500.0
    max_error_rate: float = 0.01
    closed_model: bool = False
    concurrency_steps: tuple[int, ...] = ()
    max_connections: int = 256


@dataclass(frozen=True)
class StepPlan:
    index: int
    phase: StepPhase
    seconds: float
    rate: float = 0.0  # open model: requests per second
    concurrency: int = 0  # closed model: requests kept outstanding
    drain: bool = False  # wait for the previous step's requests before starting (after a failure, backing off)


def judge(
    *,
    offered: int,
    ok: int,
    p99_ms: float,
    error_rate: float,
    driver_busy: bool,
    slo_p99_ms: float,
    max_error_rate: float,
    closed_model: bool = False,
) -> tuple[bool, StepFailure]:
    """Was a step sustained? Returns (sustained, reason); reason names the first failed test.

    ``offered`` and ``ok`` are request counts over the judged window; ``driver_busy`` says the driver itself
    was short of CPU or sent requests late, in which case a shortfall is blamed on it ("driver").
    """
    if error_rate > max_error_rate:
        return False, "errors"
    slow = p99_ms > slo_p99_ms
    short = not closed_model and ok < ACHIEVED_SHARE * offered and offered - ok > ACHIEVED_SLACK
    if (slow or short) and driver_busy:
        return False, "driver"
    if slow:
        return False, "p99"
    if short:
        return False, "achieved"
    return True, ""


def default_concurrency_steps(max_connections: int) -> tuple[int, ...]:
    steps, n = [], 1
    while n < max_connections:
        steps.append(n)
        n *= 2
    steps.append(max_connections)
    return tuple(steps)


@dataclass
class Ramp:
    settings: RampSettings
    results: list[StepResult] = field(default_factory=list)
    best: StepPlan | None = None  # highest sustained plan so far
    best_result: StepResult | None = None
    failed_rate: float | None = None  # lowest failed rate (open) or concurrency (closed)
    first_failure: StepFailure = ""  # the reason of the failure that ended the ramping phase
    driver_limited: bool = False
    confirmed: StepResult | None = None
    end_reason: RampEndReason = ""
    _plan: StepPlan | None = None
    _searches_left: int = 0
    _confirm_tries: int = 0
    _ladder: tuple[int, ...] = ()
    _plan_rate_of_confirmed: float | None = None
    _retried: bool = False
    _sustained_plans: list[tuple[StepPlan, StepResult]] = field(default_factory=list)

    def first(self) -> StepPlan:
        s = self.settings
        if s.closed_model:
            ladder = s.concurrency_steps or default_concurrency_steps(s.max_connections)
            self._ladder = tuple(min(max(1, n), s.max_connections) for n in ladder)
            self._plan = StepPlan(0, "ramping", s.step_seconds, concurrency=self._ladder[0])
        else:
            rate = s.start_rps if s.max_rps is None else min(s.start_rps, s.max_rps)
            self._plan = StepPlan(0, "ramping", s.step_seconds, rate=rate)
        return self._plan

    def next(self, result: StepResult) -> StepPlan | None:
        """Record the result of the current plan; return the next plan, or None when the ramp is over."""
        plan = self._plan
        assert plan is not None, "call first() before next()"
        self.results.append(result)
        if not result.sustained and result.reason == "driver":
            # A starved driver measured nothing about the target: run the step once more before believing it.
            if not self._retried:
                self._retried = True
                self._plan = StepPlan(plan.index + 1, plan.phase, plan.seconds, plan.rate, plan.concurrency, True)
                return self._plan
            self.driver_limited = True
        self._retried = False
        if plan.phase == "confirming":
            nxt = self._after_confirm(plan, result)
        elif self.settings.closed_model:
            nxt = self._after_closed(plan, result)
        else:
            nxt = self._after_open(plan, result)
        self._plan = nxt
        return nxt

    def outcome(self, t: float, reason: RampEndReason = "") -> RampOutcome:
        """How the ramp ended; ``reason`` overrides (stopped, max-time, an error) when the ramp was cut short."""
        chosen = self.confirmed or self.best_result
        rate = None
        if self.confirmed is not None and self._plan_rate_of_confirmed is not None:
            rate = self._plan_rate_of_confirmed
        elif self.best is not None:
            rate = self._rate_of(self.best, self.best_result)
        return RampOutcome(
            t=t,
            max_sustainable_rps=rate,
            p99_ms=chosen.p99_ms if chosen is not None else None,
            error_rate=chosen.error_rate if chosen is not None else None,
            confirmed=self.confirmed is not None and not reason,
            driver_limited=self.driver_limited,
            reason=reason or self.end_reason or self.first_failure,
        )

    # --- transitions

    def _rate_of(self, plan: StepPlan, result: StepResult | None) -> float:
        if self.settings.closed_model:
            return result.achieved_rps if result is not None else 0.0
        return plan.rate

    def _sustained(self, plan: StepPlan, result: StepResult) -> None:
        self._sustained_plans.append((plan, result))
        if self.best is None or self._rate_of(plan, result) >= self._rate_of(self.best, self.best_result):
            self.best, self.best_result = plan, result

    def _dead(self, result: StepResult) -> bool:
        return not result.sustained and result.reason == "errors" and result.error_rate >= DEAD_ERROR_RATE

    def _confirm(self, plan: StepPlan) -> StepPlan:
        """Hold the best rate; always after a drain, so that no queue from the step before is judged."""
        assert self.best is not None
        return StepPlan(
            plan.index + 1,
            "confirming",
            self.settings.confirm_seconds,
            rate=self.best.rate,
            concurrency=self.best.concurrency,
            drain=True,
        )

    def _after_open(self, plan: StepPlan, result: StepResult) -> StepPlan | None:
        s = self.settings
        if result.sustained:
            self._sustained(plan, result)
            if plan.phase == "ramping":
                if s.max_rps is not None and plan.rate >= s.max_rps:
                    self.end_reason = "max-rps"
                    return self._confirm(plan)
                rate = plan.rate * s.step_factor
                if s.max_rps is not None:
                    rate = min(rate, s.max_rps)
                return StepPlan(plan.index + 1, "ramping", s.step_seconds, rate=rate)
        else:
            if not self.first_failure:
                self.first_failure = result.reason
            self.failed_rate = plan.rate if self.failed_rate is None else min(self.failed_rate, plan.rate)
            if self._dead(result):
                self.end_reason = "errors"
                return None
            if plan.phase == "ramping":
                self._searches_left = s.search_steps
        if self._searches_left <= 0 or self.failed_rate is None:
            return self._confirm(plan) if self.best is not None else None
        self._searches_left -= 1
        low = self.best.rate if self.best is not None else 0.0
        rate = (low + self.failed_rate) / 2.0
        return StepPlan(plan.index + 1, "searching", s.step_seconds, rate=rate, drain=True)

    def _after_closed(self, plan: StepPlan, result: StepResult) -> StepPlan | None:
        s = self.settings
        if result.sustained:
            before = self.best_result.achieved_rps if self.best_result is not None else 0.0
            self._sustained(plan, result)
            plateau = before > 0 and result.achieved_rps < before * PLATEAU_GAIN
            position = self._ladder.index(plan.concurrency) if plan.concurrency in self._ladder else -1
            if not plateau and 0 <= position < len(self._ladder) - 1:
                return StepPlan(plan.index + 1, "ramping", s.step_seconds, concurrency=self._ladder[position + 1])
            self.end_reason = "plateau" if plateau else "max-connections"
            return self._confirm(plan)
        if not self.first_failure:
            self.first_failure = result.reason
        self.failed_rate = plan.concurrency
        if self._dead(result):
            self.end_reason = "errors"
            return None
        return self._confirm(plan) if self.best is not None else None

    def _after_confirm(self, plan: StepPlan, result: StepResult) -> StepPlan | None:
        if result.sustained:
            self.confirmed = result
            self._plan_rate_of_confirmed = self._rate_of(plan, result)
            return None
        if self._dead(result) or self._confirm_tries >= CONFIRM_RETRIES:
            self.end_reason = self.end_reason or result.reason
            # What is left is an unconfirmed estimate below the failed hold.
            if not self.settings.closed_model:
                self.best = StepPlan(plan.index, "searching", plan.seconds, rate=plan.rate * 0.9)
            return None
        self._confirm_tries += 1
        if self.settings.closed_model:
            lower = max(1, int(plan.concurrency * 0.9))
            self.best = StepPlan(plan.index, "searching", plan.seconds, concurrency=lower)
        else:
            # Hold 5 % below the failed hold, or the next lower rate sustained in a step when that is closer: a
            # hold that fails just above the limit (a target at 190 req/s failing a hold at 197) must not fall
            # back a whole ramp factor (to 157), when one more hold is all it takes.
            below = [p.rate for p, r in self._sustained_plans if p.rate < plan.rate * 0.999]
            rate = max([*below, plan.rate * RETRY_FACTOR])
            self.best = StepPlan(plan.index, "searching", plan.seconds, rate=rate)
            self.best_result = next((r for p, r in self._sustained_plans if p.rate == rate), self.best_result)
        return self._confirm(plan)
