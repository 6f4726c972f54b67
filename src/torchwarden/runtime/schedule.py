"""When ``torchwarden run`` examines the heap exactly, so that governance stays cheap.

An exact examination costs a census at each end, creation sites recorded while it is
open, and a referrer walk: tens of milliseconds on a small heap, up to a second on
a framework's heap of a million objects. The schedule places them by steps and caps
them by time:

* by steps: the k-th examination (from 1) spans ``min(k, MAX_SPAN)`` steps and the
  next opens ``min(ceil(k / 2), MAX_GAP)`` steps after it closed. Spans and gaps grow,
  so a set that grows every Nth step is seen growing across two intervals longer than
  N within about 10·N steps (``lifecycle.growth`` needs that to call it a leak);
* by time: an examination opens only while the time spent examining (both ends, and
  what the open span added to its steps beyond the usual step time) stays within
  ``budget`` of the run's time so far (:data:`BUDGET`, 1.5 %), counting the next one at
  what the last one cost. The bar is 2 %: the half point between is for what the
  estimate misses (an examination dearer than the last, a loaded machine's noise). The first examination may take ``GRACE_S`` before the budget has
  accrued, so a short script is looked at once;
* by suspicion: when a set grew at an examination, the next one opens at once, so a
  leak that starts late is confirmed (or cleared) a few steps later.

The counters' trend rule may ask for an examination early; the budget still holds.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterator

__all__ = ["BUDGET", "GRACE_S", "MAX_GAP", "MAX_SPAN", "ExamSchedule"]

BUDGET = 0.015
MAX_SPAN = 12
MAX_GAP = 24
GRACE_S = 0.2


class ExamSchedule:
    """Says at each step boundary whether the open examination ends and a new one opens."""

    def __init__(
        self, budget: float = BUDGET, *, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.budget = budget
        self._clock = clock
        self.count = 0  # examinations opened
        self.spent_s = 0.0
        self._started = clock()
        self._open_at: int | None = None
        self._next_at = 1  # the first step boundary opens the first examination
        self._usual: deque[float] = deque(maxlen=32)  # recent step times, none examined
        self._spent_at_open = 0.0
        self._last_cost = 0.0  # what the latest examination cost, all told

    def step_took(self, seconds: float, *, examining: bool) -> None:
        """Record a step's time; an examined step's excess over the usual is examination cost."""
        if not examining:
            self._usual.append(seconds)
        elif self._usual:
            self.spent_s += max(0.0, seconds - statistics.median(self._usual))

    def span_over(self, step: int) -> bool:
        """True when the open examination has covered its span of steps."""
        return self._open_at is not None and step - self._open_at >= min(self.count, MAX_SPAN)

    def due(self, step: int, *, alarm: bool = False) -> bool:
        """True when an examination should open now: its step has come, and the budget allows."""
        if self._open_at is not None:
            return False
        if step < self._next_at and not alarm:
            return False
        # The next examination is expected to cost what the last one did: open it only if
        # that still fits the budget. The first one is free up to a short grace.
        if self.budget >= 1.0:
            return True  # no time cap: examinations placed by steps alone (tests, debugging)
        allowed = self.budget * (self._clock() - self._started)
        return self.spent_s + self._last_cost <= max(allowed, GRACE_S if not self.count else 0.0)

    @contextlib.contextmanager
    def closing(self) -> Iterator[None]:
        """Time the work of ending the open examination; then it is closed.

        Its cost, all told (opening, the examined steps' excess, closing), is the
        estimate the next examination is admitted by.
        """
        started = self._clock()
        try:
            yield
        finally:
            self.spent_s += self._clock() - started
            self._open_at = None
            self._last_cost = self.spent_s - self._spent_at_open

    def hurry(self, step: int) -> None:
        """A set grew once: look again from the next step, to confirm or clear it soon."""
        self._next_at = step

    @contextlib.contextmanager
    def opening(self, step: int) -> Iterator[None]:
        """Time the work of opening an examination at ``step``; then it is open."""
        self._spent_at_open = self.spent_s
        started = self._clock()
        try:
            yield
        finally:
            self.spent_s += self._clock() - started
        self.count += 1  # opened: a failed opening leaves the schedule closed
        self._open_at = step
        span = min(self.count, MAX_SPAN)
        self._next_at = step + span + min((self.count + 1) // 2, MAX_GAP)

    @property
    def share(self) -> float:
        """Examination time as a share of the run's time so far."""
        return self.spent_s / max(1e-9, self._clock() - self._started)
