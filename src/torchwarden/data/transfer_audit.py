"""``with torchwarden.data.audit() as a:`` counts transfers and syncs per step, with budgets.

A ``TorchFunctionMode`` sees each Python-level torch call; a dict lookup drops every call
that cannot copy or sync, so the cost is one Python call per op. Only the thread that
entered the audit is watched (torch function modes are thread-local). Each event names the
user's line (:mod:`torchwarden.frames` decides which frame that is).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from torchwarden import frames
from torchwarden.data import watch
from torchwarden.data.events import FIXES, StepCounts, TransferEvent, classify_copy, findings
from torchwarden.errors import DataArgumentError, DataError, TransferBudgetError
from torchwarden.units import format_bytes

__all__ = ["Audit", "AuditBudget", "active_audit", "audit"]

_ACTIVE: list[Audit] = []
_BYTES_FIX = (
    "move fewer bytes per step: keep the dataset on the device (GPUResidentLoader), send "
    "compact dtypes (uint8, bf16) and convert on the device, or raise the budget."
)


def _site() -> str:
    """The user's ``path/to/file.py:LINE`` (else the library's) that made the current torch call."""
    site = frames.caller_site()
    return site.user or site.library or "<unknown>"


@dataclass(frozen=True)
class AuditBudget:
    """Per-step limits; None means unlimited. Exceeding one raises TransferBudgetError."""

    max_syncs_per_step: int | None = None
    max_h2d_bytes_per_step: int | None = None
    max_d2h_bytes_per_step: int | None = None

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value is not None and value < 0:
                raise DataArgumentError(f"audit({name}={value}): a budget must be >= 0 or None.")

    def check(self, counts: StepCounts, event: TransferEvent) -> None:
        limits = [
            ("max_syncs_per_step", self.max_syncs_per_step, counts.syncs, "syncs"),
            ("max_h2d_bytes_per_step", self.max_h2d_bytes_per_step, counts.h2d_bytes, "h2d"),
            ("max_d2h_bytes_per_step", self.max_d2h_bytes_per_step, counts.d2h_bytes, "d2h"),
        ]
        for name, limit, value, what in limits:
            if limit is not None and value > limit:
                syncs = "syncs" in name
                fix = FIXES[event.sync] if event.sync and syncs else _BYTES_FIX
                amount = f"{value} sync(s)" if syncs else f"{format_bytes(value)} {what}"
                allowed = limit if syncs else f"{limit} ({format_bytes(limit)})"
                raise TransferBudgetError(
                    f"step {counts.step}: {amount} exceed {name}={allowed}; "
                    f"the last was {event.describe()}. Fix: {fix}"
                )


class _Mode(TorchFunctionMode):
    def __init__(self, audit: Audit) -> None:
        super().__init__()
        self.audit = audit

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        rule = watch.RULES.get(func)
        if rule is None:
            return func(*args, **kwargs)
        if rule.sync is not None:
            self.audit._record_sync(rule.name, rule.sync, args)
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        self.audit._record_copy(rule.name, args, kwargs, out)
        return out


@dataclass(eq=False)  # identity semantics: audits are compared and removed by identity
class Audit:
    """Transfers and syncs seen in a ``with`` block, per step. Use :func:`audit` to make one."""

    budget: AuditBudget = field(default_factory=AuditBudget)
    max_events: int = 10_000
    steps: list[StepCounts] = field(default_factory=list, repr=False)
    events: list[TransferEvent] = field(default_factory=list, repr=False)
    current: StepCounts = field(default_factory=lambda: StepCounts(step=0), repr=False)
    state: str = "new"  # new -> open -> closed
    n_events: int = 0
    _mode: _Mode | None = field(default=None, repr=False)

    def __enter__(self) -> Audit:
        if self.state != "new":
            raise DataError(
                f"this audit is {self.state}; an audit is entered once. Fix: audit() again."
            )
        self._mode = _Mode(self)
        self._mode.__enter__()  # type: ignore[no-untyped-call]
        _ACTIVE.append(self)
        self.state = "open"
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._mode is not None
        self._mode.__exit__(et, ev, tb)  # type: ignore[no-untyped-call]
        _ACTIVE.remove(self)
        self.state = "closed"
        if not self.current.empty or not self.steps:
            self.steps.append(self.current)

    def step(self) -> StepCounts:
        """Close the current step and start the next; returns the closed step's counts."""
        closed = self.current
        self.steps.append(closed)
        self.current = StepCounts(step=closed.step + 1)
        return closed

    def _add(self, event: TransferEvent) -> None:
        self.n_events += 1
        if len(self.events) < self.max_events:
            self.events.append(event)
        self.current.add(event)
        self.budget.check(self.current, event)

    def _record_sync(self, op: str, reason: str, args: Any) -> None:
        t = args[0] if args else None
        if watch.syncs(op, t, args):
            src = str(t.device) if isinstance(t, torch.Tensor) else "?"
            self._add(TransferEvent("sync", op, _site(), self.current.step, src=src, sync=reason))

    def _record_copy(self, op: str, args: Any, kwargs: dict[str, Any], out: Any) -> None:
        copy = watch.copy_of(op, args, kwargs, out)
        if copy is None:
            return
        kind = classify_copy(copy.src, copy.dst, pinned=copy.pinned, non_blocking=copy.non_blocking)
        if kind is None:
            return
        self._add(
            TransferEvent(
                kind[0], op, _site(), self.current.step, copy.nbytes,
                str(copy.src), str(copy.dst), copy.pinned, copy.non_blocking, kind[1],
            )
        )  # fmt: skip

    def totals(self) -> StepCounts:
        total = StepCounts(step=-1)
        for counts in [*self.steps, *([] if self.state == "closed" else [self.current])]:
            for name, value in vars(counts).items():
                if name != "step":
                    setattr(total, name, getattr(total, name) + value)
        return total

    def summary(self) -> dict[str, Any]:
        """A JSON-ready record: schema, totals, per-step counts, findings."""
        return {
            "schema": "torchwarden.transfer-audit/1",
            "totals": self.totals().to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "findings": [f.to_dict() for f in findings(self.events)],
            "events_dropped": self.n_events - len(self.events),
        }

    def __str__(self) -> str:
        return _render(self)


def _render(a: Audit) -> str:
    t = a.totals()
    lines = [
        f"transfer audit: {len(a.steps)} step(s) closed, {a.n_events} event(s)",
        f"  host->device    {t.h2d:6d} copies {format_bytes(t.h2d_bytes):>10} "
        f"({format_bytes(t.h2d_pageable_bytes)} pageable)",
        f"  device->host    {t.d2h:6d} copies {format_bytes(t.d2h_bytes):>10}",
        f"  device->device  {t.d2d:6d} copies {format_bytes(t.d2d_bytes):>10}",
        f"  syncs           {t.syncs:6d} ({t.hidden_syncs} hidden: non_blocking from pageable)",
    ]
    for f in findings(a.events)[:10]:
        lines.append(f"  {f.count:5d} x {f.message}\n          fix: {f.fix}")
    return "\n".join(lines)


def audit(
    *,
    max_syncs_per_step: int | None = None,
    max_h2d_bytes_per_step: int | None = None,
    max_d2h_bytes_per_step: int | None = None,
) -> Audit:
    """Count host↔device copies and syncs in a ``with`` block; ``a.step()`` closes a step.

    Budgets raise :class:`TransferBudgetError` at the call that exceeds them, so a test
    fails on a regression with the offending line in the message.
    """
    budget = AuditBudget(max_syncs_per_step, max_h2d_bytes_per_step, max_d2h_bytes_per_step)
    return Audit(budget=budget)


def active_audit() -> Audit | None:
    """The innermost open audit (for step hooks such as ``torchwarden.step()``), or None."""
    return _ACTIVE[-1] if _ACTIVE else None
