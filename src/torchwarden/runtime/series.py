"""A long run's steps in bounded memory: a downsampled series and exact summaries.

``run.json`` must stay small for a run of a million steps, while ``events.jsonl`` keeps
every step. :class:`StepSeries` sees every step once and keeps: the first
:data:`HEAD` steps (start-up, where step times differ most), an evenly strided sample of
the rest (at most :data:`LIMIT`; when full, every other one is dropped and the stride
doubles), the last step, and summaries over *all* steps (count, peak memory per device,
median step time). Memory is bounded whatever the run's length: the median comes from
a histogram of step times in logarithmic bins 0.1 % wide (:class:`MedianSketch`).
"""

from __future__ import annotations

import math
from typing import Any

from torchwarden.report.run_record import StepRecord, Summary

__all__ = ["HEAD", "LIMIT", "MedianSketch", "StepSeries"]

HEAD = 16
LIMIT = 4096  # about 0.7 MB of run.json per rank


class MedianSketch:
    """The median of a stream of positive durations, within 0.05 %, in bounded memory.

    A value goes to the bin ``round(log(t) / log(1 + 1e-3))``; the median is the centre of
    the bin that holds the middle count. From a microsecond to a day there are fewer than
    26,000 bins, and a run's step times fill a few hundred of them.
    """

    _WIDTH = math.log1p(1e-3)

    def __init__(self) -> None:
        self.count = 0
        self._zero = 0  # steps that took no measurable time
        self._bins: dict[int, int] = {}

    def add(self, t: float) -> None:
        self.count += 1
        if t <= 0:
            self._zero += 1
            return
        key = round(math.log(t) / self._WIDTH)
        self._bins[key] = self._bins.get(key, 0) + 1

    @property
    def size(self) -> int:
        """How many bins hold counts: what the sketch keeps, whatever :attr:`count` is."""
        return len(self._bins)

    def median(self) -> float | None:
        if not self.count:
            return None
        middle = (self.count - 1) / 2
        seen = self._zero
        if seen > middle:
            return 0.0
        for key in sorted(self._bins):
            seen += self._bins[key]
            if seen > middle:
                return math.exp(key * self._WIDTH)
        return None  # unreachable: the bins hold every count


class StepSeries:
    """Every step goes through :meth:`add`; :meth:`steps` and :meth:`summary` read them back."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._reset()

    def _reset(self) -> None:
        self.count = 0
        self.stride = 1
        self._kept: list[StepRecord] = []
        self._last: StepRecord | None = None
        self._times = MedianSketch()  # over every step, in bounded memory
        self._peak: dict[str, int] = {}

    def add(self, step: StepRecord) -> None:
        """One more step; a step number that goes back starts the series again.

        The step monitor renumbers from 1 when it learns where steps really end (the
        forwards it counted before the first optimizer step were set-up), and a rank
        restarted by torchrun counts from 1 again: the series is of the latest count.
        """
        if self._last is not None and step["step"] <= self._last["step"]:
            self._reset()
        index, self.count = self.count, self.count + 1
        self._last = step
        if (t := step.get("time_s")) is not None:
            self._times.add(float(t))
        self._observe_peak(step)
        if index < HEAD or (index - HEAD) % self.stride == 0:
            self._kept.append(step)
            if len(self._kept) > self.limit + HEAD:
                self._thin()

    def _thin(self) -> None:
        self.stride *= 2
        head, rest = self._kept[:HEAD], self._kept[HEAD:]
        self._kept = head + [s for i, s in enumerate(rest) if i % 2 == 0]

    def _observe_peak(self, step: StepRecord) -> None:
        for device, m in step.get("memory", {}).items():
            mem: dict[str, Any] = dict(m)
            value = (
                mem.get("rss")
                if device == "cpu"
                else mem.get("peak_allocated", mem.get("allocated"))
            )
            if isinstance(value, int):
                self._peak[device] = max(self._peak.get(device, 0), value)

    def steps(self) -> list[StepRecord]:
        """The kept steps in order, the last step always among them."""
        kept = list(self._kept)
        if self._last is not None and (not kept or kept[-1] is not self._last):
            kept.append(self._last)
        return kept

    def summary(self) -> Summary:
        return {
            "steps": self.count,
            "median_step_s": self._times.median(),
            "peak_memory": dict(self._peak),
        }
