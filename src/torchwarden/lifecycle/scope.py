"""``torchwarden.scope()``: which tensors created in a block outlive it, and why.

Lifecycle: NEW -> OPEN -> CLOSED. A scope is entered once; ``report`` exists once it
is closed, also when the block raised.

Cost model. The first call of a scope (by name, or by the line of the ``with``) is
*exact*: a heap census before and after, creation sites recorded, holders walked.
Later calls of the same scope read three counters only (see ``trend.py``) and become
exact again when those counters grow for several calls in a row. ``mode="exact"``
forces an exact examination every time; ``mode="counters"`` never makes one.
"""

from __future__ import annotations

import enum
import functools
import sys
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Literal, ParamSpec, TypeVar, overload

import torch

from torchwarden.errors import ScopeArgumentError, ScopeError, TensorLeakError
from torchwarden.lifecycle.examine import examine
from torchwarden.lifecycle.referrers import RUNNING
from torchwarden.lifecycle.report import ScopeReport
from torchwarden.lifecycle.sites import recorder, site_of, user_frame
from torchwarden.lifecycle.trend import history_for, sample
from torchwarden.memory.census import live_tensors, storage_key

__all__ = ["TensorScope", "scope", "scoped"]

Mode = Literal["auto", "exact", "counters"]
P = ParamSpec("P")
R = TypeVar("R")


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


def _tensors_within(value: Any, depth: int = 4) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif depth > 0 and isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _tensors_within(item, depth - 1)
    elif depth > 0 and isinstance(value, dict):
        for item in value.values():
            yield from _tensors_within(item, depth - 1)


class TensorScope:
    """Context manager that reports tensors created inside a block and still alive after it.

    Use :func:`torchwarden.scope` to make one. ``keep(t)`` marks a tensor the block
    means to hand out; ``report`` holds the :class:`ScopeReport` after exit.
    """

    def __init__(
        self, name: str | None = None, *, strict: bool = False, mode: Mode = "auto"
    ) -> None:
        if mode not in ("auto", "exact", "counters"):
            raise ScopeArgumentError(
                f"scope mode must be 'auto', 'exact' or 'counters', got {mode!r}"
            )
        self.name = name
        self.strict = strict
        self.mode: Mode = mode
        self._state = _State.NEW
        self._report: ScopeReport | None = None
        self._kept: dict[int, weakref.ref[torch.Tensor]] = {}
        self._exact = False
        self._frame: Any = None
        # Where the block's results are bound: "caller" (the `with` statement's frame),
        # "none" (a decorated function: its frame is gone), "running" (every running
        # frame: a step of a loop, seen from a hook inside it).
        self._results_in = "caller"

    # -- lifecycle ---------------------------------------------------------------
    @property
    def report(self) -> ScopeReport:
        if self._report is None:
            raise ScopeError(
                f"scope {self.name!r} is {self._state.value}: its report exists once the "
                "`with` block has ended. Read `scope.report` after the block."
            )
        return self._report

    def keep(self, *tensors: Any) -> Any:
        """Mark tensors (or containers of them) as meant to outlive the block; returns the first."""
        for value in tensors:
            for t in _tensors_within(value):
                self._kept[id(t)] = weakref.ref(t)
        return tensors[0] if len(tensors) == 1 else tensors

    def __enter__(self) -> TensorScope:
        if self._state is not _State.NEW:
            raise ScopeError(
                f"scope {self.name!r} was already entered; a scope reports on one block. "
                "Create a new torchwarden.scope() for each block."
            )
        self._state = _State.OPEN
        # Walking the stack costs microseconds: only when the scope needs the caller.
        caller = user_frame(sys._getframe(1)) if self.name is None else None
        if self.name is None:
            self.name = site_of(caller) or "<scope>"
        self._history = history_for(self.name)
        self._exact = self.mode == "exact" or (self.mode == "auto" and self._history.wants_exact())
        self._t0 = time.perf_counter()
        self._before = sample()
        if self._exact:
            caller = caller or user_frame(sys._getframe(1))
            self._frame = {"caller": caller, "none": None, "running": RUNNING}[self._results_in]
            self._snapshot()
            recorder.push()
        return self

    def _snapshot(self) -> None:
        pre = live_tensors()
        self._pre = {id(t): weakref.ref(t) for t in pre}
        self._pre_storages: dict[tuple[str, int], weakref.ref[torch.Tensor]] = {}
        for t in pre:
            key = storage_key(t)
            if key is not None:
                self._pre_storages.setdefault(key, weakref.ref(t))
        del pre

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        try:
            self._report = self._close(exc_type)
        finally:
            self._state = _State.CLOSED
            self._frame = None
        if self.strict and exc_type is None and self._report.leaks:
            raise TensorLeakError(self._report)
        return False

    def _close(self, exc_type: Any) -> ScopeReport:
        exception = None if exc_type is None else exc_type.__name__
        if not self._exact:
            after = sample()
            suspect = self._history.observe(after[0], exact=False, found=False)
            return ScopeReport(
                name=str(self.name),
                mode="counters",
                suspect=suspect,
                exception=exception,
                duration_s=time.perf_counter() - self._t0,
                samples=(self._before, after),
            )
        recorder.pop()
        try:
            report = examine(self, exception)
        finally:
            recorder.release()
            self._pre = {}
            self._pre_storages = {}
        self._history.observe(sample()[0], exact=True, found=bool(report.leaks))
        return report

    # -- decorator -----------------------------------------------------------------
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Use the scope's settings as a decorator: each call gets a fresh scope."""
        return scoped(name=self.name, strict=self.strict, mode=self.mode)(fn)


def scope(name: str | None = None, *, strict: bool = False, mode: Mode = "auto") -> TensorScope:
    """Report every tensor created inside the block that outlives it.

    >>> import torch, torchwarden
    >>> history = []
    >>> with torchwarden.scope("demo", mode="exact") as s:
    ...     history.append(torch.ones(3) * 2)
    >>> s.report.leaks[0].holder
    'global history[0]'

    Args:
        name: identifies the scope across calls (default: the line of the ``with``).
        strict: raise :class:`~torchwarden.TensorLeakError` when the block leaks.
        mode: ``auto`` (exact on first use and when counters grow), ``exact``, ``counters``.
    """
    return TensorScope(name, strict=strict, mode=mode)


@overload
def scoped(fn: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def scoped(
    *, name: str | None = None, strict: bool = False, mode: Mode = "auto"
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def scoped(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    strict: bool = False,
    mode: Mode = "auto",
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator form of :func:`scope`: tensors the function returns are not leaks.

    The latest call's report is ``wrapped.last_report``.
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        key = name or f"{func.__module__}.{func.__qualname__}"

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            s = TensorScope(key, strict=strict, mode=mode)
            s._results_in = "none"
            try:
                with s:
                    result = func(*args, **kwargs)
                    s.keep(result)
                    return result
            finally:
                if s._report is not None:
                    wrapper.last_report = s._report  # type: ignore[attr-defined]

        wrapper.last_report = None  # type: ignore[attr-defined]
        return wrapper

    return decorate(fn) if fn is not None else decorate
