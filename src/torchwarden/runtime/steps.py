"""Step boundaries without code changes, and what each step cost.

A global optimizer step hook marks the end of every training step; loops without an
optimizer call :func:`torchwarden.step`. Each boundary reads the scope engine's cheap
counters once (C heap, RSS, CUDA allocated): they are the step's memory record and
feed its trend rule (``lifecycle.trend``). When that rule asks, or after the first step,
an exact scope is opened to name the leak, its holder and its creation site.

An exact examination spans two steps: loops often store a step's tensor after the
optimizer step (``history.append(loss)``), so a tensor made in step k is only seen
held at the end of step k+1.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from torch.optim.optimizer import register_optimizer_step_post_hook

from torchwarden.findings import LeakFinding
from torchwarden.lifecycle.leaks import sighted
from torchwarden.lifecycle.report import ScopeReport
from torchwarden.lifecycle.scope import TensorScope
from torchwarden.lifecycle.trend import History, memory_dict, sample

__all__ = ["StepMonitor", "active_monitor", "step"]

_active: StepMonitor | None = None
_INDEX = re.compile(r"\[\d+\]")


def active_monitor() -> StepMonitor | None:
    return _active


def step() -> None:
    """Mark the end of a step (for loops with no optimizer, such as inference).

    Under ``torchwarden run`` this records the step's time and memory; elsewhere it
    does nothing and costs a function call.
    """
    monitor = _active
    if monitor is not None:
        monitor.boundary()
    else:
        _step_audit()


def _step_audit() -> dict[str, Any] | None:
    """Close the step of an open transfer audit, if the data path is in use at all."""
    module = sys.modules.get("torchwarden.data.transfer_audit")
    current = module.active_audit() if module is not None else None
    return current.step().to_dict() if current is not None else None


class StepMonitor:
    """Collects one record per step and leak findings; install with :meth:`start`.

    Every boundary reads the cheap counters once and feeds the scope engine's trend rule
    (``lifecycle.trend.History``); only when that rule asks for it does an exact scope
    open, for the next two steps. A healthy step therefore costs a few microseconds.
    """

    def __init__(
        self,
        *,
        rank: int = 0,
        leak_check: bool = True,
        on_step: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.rank = rank
        self.leak_check = leak_check
        self.on_step = on_step
        # (step, t, time_s, rss, tensor_bytes, cuda triples, transfers): compact on purpose
        self._rows: list[tuple[Any, ...]] = []
        self.leaks: list[LeakFinding] = []
        self._groups: dict[tuple[str, str], int] = {}  # (site, holder) -> index in leaks
        self._history = History()
        self._exact: TensorScope | None = None
        self._spanned = False
        self._hook: Any = None
        self._lock = threading.Lock()
        self._t0 = self._last = time.perf_counter()

    @property
    def findings(self) -> list[dict[str, Any]]:
        """The leak findings in their ``run.json`` form (:attr:`leaks` holds the objects)."""
        return [leak.to_dict() for leak in self.leaks]

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The step records of ``run.json`` (built on demand from the compact rows)."""
        return [self._record(row) for row in self._rows]

    def _record(self, row: tuple[Any, ...]) -> dict[str, Any]:
        step_no, t, time_s, counters, tensor_bytes, cuda, transfers = row
        memory = memory_dict((counters, cuda), tensor_bytes)
        record = {"step": step_no, "rank": self.rank, "t": t, "time_s": time_s, "memory": memory}
        if transfers is not None:
            record["transfers"] = transfers
        return record

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        global _active
        self._t0 = self._last = time.perf_counter()
        self._hook = register_optimizer_step_post_hook(self._on_optimizer_step)
        _active = self
        # Nothing is examined until the first step ends: what the script builds before
        # and during its first step (model, data, optimizer state) is set-up, not a leak.

    def stop(self) -> None:
        """Remove the hooks; an examination still open is closed but not reported."""
        global _active
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if _active is self:
            _active = None
        if self._exact is not None:
            scope, self._exact = self._exact, None
            scope.close()

    # -- per step ------------------------------------------------------------------
    def _on_optimizer_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.boundary()

    def _examine(self) -> TensorScope:
        # the loop's own `loss`, `x`, `y` are bound in a running frame: results, not leaks
        scope = TensorScope("torchwarden-run-step (exact)", mode="exact", results="running")
        return scope.open()

    def boundary(self) -> None:
        """End the current step: record it, and examine the next two when counters ask."""
        with self._lock:
            now = time.perf_counter()
            step_no = len(self._rows) + 1
            report: ScopeReport | None = None
            if self._exact is not None and not self._spanned:
                self._spanned = True  # keep examining through the next step
            elif self._exact is not None:
                scope, self._exact = self._exact, None
                report = scope.close()
            counters, cuda = sample()
            if self.leak_check:
                self._history.observe(
                    counters, exact=report is not None, found=bool(report and report.leaks)
                )
                if step_no == 1:  # steps 2-3 are examined: leaks that start at once
                    self._history.schedule()
                if self._exact is None and self._history.wants_exact():
                    self._exact, self._spanned = self._examine(), False
            tensor_bytes = report.tensor_bytes_after if report else None
            row = (
                step_no,
                round(now - self._t0, 6),
                round(now - self._last, 6),
                counters,
                tensor_bytes,
                cuda,
                _step_audit(),
            )
            self._rows.append(row)
            if report is not None and report.leaks:
                self._add_leaks(report, step_no)
            self._last = time.perf_counter()
        if self.on_step is not None:
            self.on_step(self._record(row))

    def _add_leaks(self, report: ScopeReport, step_no: int) -> None:
        """One finding per (site, holder) group; a group found again records the step."""
        for leak in report.leaks:
            key = (leak.site or "", _INDEX.sub("[…]", leak.holder))
            index = self._groups.get(key)
            if index is None:
                self._groups[key] = len(self.leaks)
                first = leak.replace(step=step_no, rank=self.rank, first_step=step_no, count=0)
                self.leaks.append(sighted(first, step_no))
            else:
                self.leaks[index] = sighted(self.leaks[index], step_no)
