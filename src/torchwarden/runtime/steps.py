"""Step boundaries without code changes, what each step cost, and the leaks that grow.

Where a step ends, in order of trust: ``torchwarden.step()`` when the script calls
it; else the optimizer step of the *lead* optimizer (the first one seen; a GAN's two
optimizers make one step, not two); else, in a loop with no optimizer (inference,
evaluation), the end of each forward of the outermost module. ``step_source`` says
which one this run used.

Each boundary reads the cheap counters once (C heap, RSS, CUDA allocated): the step's
memory record. Exact examinations are scheduled (``ExamSchedule``): each spans a few
steps, and the steps between them grow, both bounded, and never faster than the cost
budget allows; the counters' trend rule can call one early. A leak is a set that keeps
growing across examinations (``lifecycle.growth``): steady state is never a finding.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from torch.optim.optimizer import register_optimizer_step_post_hook

from torchwarden.findings import CacheFinding, LeakFinding
from torchwarden.lifecycle.growth import CONFIRM, GrowthTracker
from torchwarden.lifecycle.report import ScopeReport
from torchwarden.lifecycle.scope import TensorScope
from torchwarden.lifecycle.trend import History, memory_dict, sample
from torchwarden.runtime.schedule import BUDGET, ExamSchedule

__all__ = ["StepMonitor", "active_monitor", "step"]

_active: StepMonitor | None = None
MARKED = "torchwarden.step()"
_COMPILE_HOOK_WARNING = r"Using `torch.compile\(module\)` when there are global hooks"
BUDGET_ENV = "TORCHWARDEN_EXAM_BUDGET"  # share of run time exact examinations may take


def active_monitor() -> StepMonitor | None:
    return _active


def step() -> None:
    """Mark the end of a step (for loops with no optimizer, such as inference).

    Under ``torchwarden run`` this records the step's time and memory; elsewhere it
    does nothing and costs a function call.
    """
    monitor = _active
    if monitor is not None:
        monitor.marked()
    else:
        _step_audit()


def _step_audit() -> dict[str, Any] | None:
    """Close the step of an open transfer audit, if the data path is in use at all."""
    module = sys.modules.get("torchwarden.data.transfer_audit")
    current = module.active_audit() if module is not None else None
    return current.step().to_dict() if current is not None else None


class StepMonitor:
    """Collects one record per step and leak findings; install with :meth:`start`."""

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
        # Only the count: every step record goes to ``on_step`` (the event stream and the
        # downsampled series) as it happens, so a run of any length holds O(1) here.
        self.step_count = 0
        self._growth = GrowthTracker(rank)
        self._history = History()
        self._schedule = ExamSchedule(float(os.environ.get(BUDGET_ENV, BUDGET)))
        self._exact: TensorScope | None = None
        # closed and compared; not derived from the schedule's count, because stop() closes
        # an open examination without comparing it, before the record is built
        self.examinations = 0
        self._optimizer_hook: Any = None
        self._forward_hooks: list[Any] = []
        self._lead: int | None = None  # id of the optimizer whose steps end a step
        self._depth = 0  # module forwards in progress (outermost-forward steps)
        self._lead_module: int | None = None
        self._forwards_count = True  # until an optimizer step or torchwarden.step() is seen
        self.step_source = "none"
        self._lock = threading.Lock()
        self._t0 = self._last = time.perf_counter()

    @property
    def leaks(self) -> list[LeakFinding]:
        """Confirmed leaks: sets that kept growing across examinations."""
        return self._growth.leaks

    @property
    def caches(self) -> list[CacheFinding]:
        """Sets that filled and stopped growing (informational, not leaks)."""
        return self._growth.caches

    @property
    def exam_share(self) -> float:
        """The share of the run's time so far spent examining (the schedule's own count)."""
        return self._schedule.share

    @property
    def evidence_note(self) -> str | None:
        """Why "no findings" from this run would claim more than it saw; None when it would not.

        Growth is confirmed across ``CONFIRM + 1`` examinations. A run that ended before
        it had that many (a short script under the time budget) was not shown leak-free.
        """
        if not self.leak_check:
            return "leak check off (--no-leak-check)"
        if not self.step_count:
            return "not checked: no step ended (call torchwarden.step() per step)"
        needed = CONFIRM + 1
        if self.leaks or self.examinations >= needed:
            return None
        return (
            f"not shown leak-free: {self.examinations} of the {needed} heap examinations that "
            f"confirm growth fit in {self.step_count} steps within the "
            f"{self._schedule.budget:.1%} time budget ({BUDGET_ENV}=1 examines by steps alone)"
        )

    def site_of(self, t: Any) -> str | None:
        """The creation site of ``t`` if an examination of this run recorded it."""
        return self._growth.site_of(t)

    @property
    def findings(self) -> list[dict[str, Any]]:
        """The leak findings in their ``run.json`` form (:attr:`leaks` holds the objects)."""
        return [leak.to_dict() for leak in self.leaks]

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        global _active
        self._t0 = self._last = time.perf_counter()
        self._optimizer_hook = register_optimizer_step_post_hook(self._on_optimizer_step)
        self._forward_hooks = [
            register_module_forward_pre_hook(self._on_forward_start),
            register_module_forward_hook(self._on_forward_end),
        ]
        # torch.compile(module) warns that global hooks fire for the wrapper too: the
        # outermost-forward rule counts that wrapper's forward once, as intended.
        warnings.filterwarnings("ignore", message=_COMPILE_HOOK_WARNING, category=UserWarning)
        _active = self
        # Nothing is examined until the first step ends: what the script builds before
        # and during its first step (model, data, optimizer state) is set-up, not a leak.

    def stop(self) -> None:
        """Remove the hooks; an examination still open is closed but not reported."""
        global _active
        self._remove_forward_hooks()
        if self._optimizer_hook is not None:
            self._optimizer_hook.remove()
            self._optimizer_hook = None
        if _active is self:
            _active = None
        if self._exact is not None:
            scope, self._exact = self._exact, None
            scope.close()

    def _drop_forward_hooks(self) -> None:
        """Make the forward hooks inert; they are removed at :meth:`stop` only.

        Compiled code is guarded on the set of global module hooks: removing them in
        the middle of a run would recompile every compiled module once.
        """
        self._forwards_count = False

    def _remove_forward_hooks(self) -> None:
        for hook in self._forward_hooks:
            hook.remove()
        self._forward_hooks = []

    # -- where steps end -----------------------------------------------------------
    def marked(self) -> None:
        """``torchwarden.step()``: the script says where its steps end; nothing else counts."""
        if self.step_source != MARKED:
            self.step_source = MARKED
            self._drop_forward_hooks()
        self.boundary()

    def _on_optimizer_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.step_source == MARKED:
            return
        if self._lead is None:
            self._lead = id(optimizer)  # a GAN's second optimizer ends no step of its own
            self._drop_forward_hooks()
            if self.step_source != "none":
                self.step_count = 0  # forwards before the first optimizer step were set-up
            self.step_source = "optimizer steps"
        if id(optimizer) == self._lead:
            self.boundary()

    # Inside code that Dynamo traces, the hooks do nothing: no guard on this object's
    # state, no graph break. The compiled module's eager wrapper still counts the step.
    def _on_forward_start(self, module: Any, args: Any) -> None:
        if not torch.compiler.is_compiling() and self._forwards_count:
            self._depth += 1

    def _on_forward_end(self, module: Any, args: Any, output: Any) -> None:
        if torch.compiler.is_compiling() or not self._forwards_count:
            return
        self._depth = max(0, self._depth - 1)
        if self._depth:
            return
        if self._lead_module is None:  # the first outermost module; a loss module is another
            self._lead_module = id(module)
            self.step_source = f"forwards of the outermost module ({type(module).__name__})"
        if id(module) == self._lead_module:
            self.boundary()

    # -- per step ------------------------------------------------------------------
    def _open_exam(self) -> None:
        # the loop's own `loss`, `x`, `y` are bound in a running frame: results, not leaks
        scope = TensorScope("torchwarden-run-step (exact)", mode="exact", results="running")
        scope.carry(self._growth.carried())
        self._exact = scope.open()

    def boundary(self) -> None:
        """End the current step: record it, and open or close an examination when due."""
        with self._lock:
            now = time.perf_counter()
            step_no = self.step_count = self.step_count + 1
            report = self._examine(step_no, now - self._last) if self.leak_check else None
            counters, cuda = sample()
            if self.leak_check:
                self._history.observe(
                    counters, exact=report is not None, found=bool(report and report.leaks)
                )
            tensor_bytes = report.tensor_bytes_after if report else None
            record = {
                "step": step_no,
                "rank": self.rank,
                "t": round(now - self._t0, 6),
                "time_s": round(now - self._last, 6),
                "memory": memory_dict((counters, cuda), tensor_bytes),
            }
            if (transfers := _step_audit()) is not None:
                record["transfers"] = transfers
            self._last = time.perf_counter()
        if self.on_step is not None:
            self.on_step(record)

    def _examine(self, step_no: int, step_s: float) -> ScopeReport | None:
        """Close the open examination when its span is over; open the next when due."""
        schedule = self._schedule
        report = None
        schedule.step_took(step_s, examining=self._exact is not None)
        if self._exact is not None and schedule.span_over(step_no):
            scope, self._exact = self._exact, None
            with schedule.closing():  # census, referrer walk and grouping: most of the cost
                report = scope.close()
                grew = self._growth.update(step_no, report)
            self.examinations += 1
            if grew:
                schedule.hurry(step_no)
        if self._exact is None and schedule.due(step_no, alarm=self._history.armed):
            with schedule.opening(step_no):
                self._open_exam()
        return report
