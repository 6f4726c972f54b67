"""The examination schedule against a simulated clock: the time cap holds, looks go on."""

from __future__ import annotations

import random

import pytest

from torchwarden.runtime.schedule import BUDGET, GRACE_S, ExamSchedule


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def simulate(
    steps: int,
    step_s: float,
    exam_s: float,
    jitter: float,
    seed: int,
    *,
    close_share: float = 0.5,
    opened_at: list[float] | None = None,
) -> ExamSchedule:
    """Drive the schedule as the step monitor does; an examination's cost varies by ``jitter``.

    ``close_share`` of an examination's cost is spent closing it (the census and the
    referrer walk), the rest opening it; ``opened_at`` collects when each one opened.
    """
    rng = random.Random(seed)
    clock = Clock()
    schedule = ExamSchedule(clock=clock)
    open_ = False
    for step in range(1, steps + 1):
        took = step_s * (1.02 if open_ else 1.0)  # recording creation sites slows a step
        clock.t += took
        schedule.step_took(took, examining=open_)
        cost = exam_s * rng.uniform(1 - jitter, 1 + jitter)
        if open_ and schedule.span_over(step):
            with schedule.closing():
                clock.t += cost * close_share
            open_ = False
        if not open_ and schedule.due(step):
            if opened_at is not None:
                opened_at.append(clock.t)
            with schedule.opening(step):
                clock.t += cost * (1 - close_share)
            open_ = True
    return schedule


@pytest.mark.parametrize("exam_s", [0.02, 0.2, 0.6])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_long_run_spends_within_two_percent_even_when_costs_vary(
    exam_s: float, seed: int
) -> None:
    schedule = simulate(steps=20_000, step_s=0.05, exam_s=exam_s, jitter=0.5, seed=seed)
    assert schedule.share <= 0.02, schedule.share  # the bar: BUDGET leaves room for surprises
    assert schedule.count >= 3  # and it still looks, however dear a look is


def test_the_budget_is_spent_not_hoarded() -> None:
    """On a heap where looks are dear, the schedule uses most of what it may spend."""
    schedule = simulate(steps=20_000, step_s=0.05, exam_s=0.2, jitter=0.0, seed=0)
    assert BUDGET * 0.6 <= schedule.share <= BUDGET * 1.1, schedule.share


def test_a_short_run_gets_its_one_look() -> None:
    schedule = simulate(steps=40, step_s=0.05, exam_s=GRACE_S * 0.9, jitter=0.0, seed=0)
    assert schedule.count >= 1


@pytest.mark.parametrize("close_share", [0.5, 0.9])
def test_the_next_look_waits_for_the_whole_cost_of_the_last(close_share: float) -> None:
    """The close is most of a look's cost: the next look is admitted on the whole of it."""
    opened_at: list[float] = []
    schedule = simulate(steps=4_000, step_s=0.02, exam_s=0.3, jitter=0.0, seed=0,
                        close_share=close_share, opened_at=opened_at)  # fmt: skip
    assert len(opened_at) >= 3 and schedule.count == len(opened_at)
    # by the time the k-th look opens, k-1 looks were spent and one more is expected:
    # the budget must cover k of them (the first is free within the grace)
    for k, t in enumerate(opened_at[1:], start=2):
        assert BUDGET * t >= 0.3 * k * 0.999, (k, t)
