"""Cheap counters and the rule that turns them into "look closer".

A scope called every step reads three counters at exit: C heap bytes in use (see
``memory/heap.py``; a leaked CPU tensor moves it by hundreds of bytes), process RSS,
and CUDA bytes allocated (``memory/counters.py``, the one reader of the allocator). Each scope first learns its usual growth per call: the
median delta over ``LEARN`` calls. After learning, one
exact examination closes the warm-up blind spot; from then on, growth above the
usual for ``need`` calls in a row arms an exact examination of the next call. A false
alarm doubles ``need`` (up to ``MAX_NEED``), so noise cannot make governance costly.
"""

from __future__ import annotations

import statistics
import threading
from dataclasses import dataclass, field

from torchwarden.memory.counters import allocator_triples, cpu_rss
from torchwarden.memory.heap import heap_in_use

__all__ = ["Counters", "History", "Sample", "history_for", "memory_dict", "sample"]

START_NEED = 3
MAX_NEED = 6
MAX_NEED_FOUND = 48
LEARN = 8
# Growth above the usual that counts: the heap wanders by tens of bytes a call, RSS by pages.
MARGIN = (128, 64 * 1024, 0)

Counters = tuple[int, int, int]  # C heap bytes in use, RSS bytes, CUDA bytes allocated


Sample = tuple[Counters, tuple[tuple[int, int, int], ...]]


def sample() -> Sample:
    """The counters and the per-device CUDA triples, read once."""
    cuda = allocator_triples()
    return (heap_in_use(), cpu_rss(), sum(c[0] for c in cuda)), cuda


def memory_dict(s: Sample, tensor_bytes: int | None = None) -> dict[str, dict[str, int | None]]:
    """The ``memory`` mapping of reports and step records, from a :func:`sample`."""
    out: dict[str, dict[str, int | None]] = {"cpu": {"rss": s[0][1], "tensor_bytes": tensor_bytes}}
    for i, (allocated, reserved, peak) in enumerate(s[1]):
        out[f"cuda:{i}"] = {"allocated": allocated, "reserved": reserved, "peak_allocated": peak}
    return out


@dataclass
class History:
    """What one scope (by name or call site) has seen across calls."""

    calls: int = 0
    need: int = START_NEED
    armed: bool = False
    last: Counters | None = None
    learning: list[Counters] = field(default_factory=list)
    baseline: Counters | None = None
    streak: list[int] = field(default_factory=lambda: [0, 0, 0])
    checked_after_learning: bool = False
    scheduled: bool = False  # the armed examination is the planned one, not an alarm

    def wants_exact(self) -> bool:
        return self.calls == 0 or self.armed

    def schedule(self) -> None:
        """Ask for an exact examination next, as a planned look rather than an alarm.

        A planned examination's verdict leaves the evidence the rule wants as it was:
        finding nothing is not a false alarm.
        """
        self.armed = self.scheduled = True

    def observe(self, counters: Counters, *, exact: bool, found: bool) -> bool:
        """Record one call's exit counters; True when growth is now suspected."""
        self.calls += 1
        delta = None if self.last is None else tuple(b - a for a, b in zip(self.last, counters))
        self.last = counters
        if exact:
            self.last = None  # the examination's own garbage would skew the next delta
            self.armed = False
            self.streak = [0, 0, 0]
            planned, self.scheduled = self.scheduled, False
            if planned or self.calls == 1:
                return False
            if not found:
                self.need = min(self.need * 2, MAX_NEED)  # a false alarm: want more evidence
                self.learning, self.baseline = [], None
            else:
                self.need = min(self.need * 2, MAX_NEED_FOUND)  # reported: look back less often
            return False
        if delta is None:
            return False
        if self.baseline is None:
            self.learning.append(delta)  # type: ignore[arg-type]
            if len(self.learning) >= LEARN:
                self.baseline = tuple(int(statistics.median(c)) for c in zip(*self.learning))  # type: ignore[assignment]
                self.armed = self.scheduled = not self.checked_after_learning
                self.checked_after_learning = True
            return False
        for i in range(3):
            grew = delta[i] > self.baseline[i] + MARGIN[i]
            self.streak[i] = self.streak[i] + 1 if grew else 0
        self.armed = max(self.streak) >= self.need
        return self.armed


_histories: dict[str, History] = {}
_lock = threading.Lock()


def history_for(key: str) -> History:
    with _lock:
        h = _histories.get(key)
        if h is None:
            h = _histories[key] = History()
        return h
