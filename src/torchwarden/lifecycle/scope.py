"""``torchwarden.scope()``: which tensors created in a block outlive it, and why.

Lifecycle: NEW -> OPEN -> CLOSED. A scope is opened once (``with``, or :meth:`open`)
and closed once (the end of the ``with``, or :meth:`close`); ``report`` exists once it
is closed, also when the block raised.

Cost model. The first call of a scope (by name, or by the line of the ``with``) is
*exact*: a heap census before and after, creation sites recorded, holders walked.
Later calls of the same scope read three counters only (see ``trend.py``) and become
exact again when those counters grow for several calls in a row. ``mode="exact"``
forces an exact examination every time; ``mode="counters"`` never makes one.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import sys
import time
import types
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, ParamSpec, TypeVar, overload

import torch

from torchwarden.errors import ScopeArgumentError, ScopeError, TensorLeakError
from torchwarden.frames import site_of, user_frame
from torchwarden.lifecycle.examine import examine
from torchwarden.lifecycle.holder import RUNNING
from torchwarden.lifecycle.report import ScopeReport
from torchwarden.lifecycle.sites import recorder
from torchwarden.lifecycle.snapshot import ScopeSnapshot, take_snapshot
from torchwarden.lifecycle.trend import History, history_for, sample

__all__ = ["Mode", "Results", "TensorScope", "scope", "scoped"]

Mode = Literal["auto", "exact", "counters"]
# Where the block's results are bound, so they are not reported as leaks: "caller" (names
# in the frame of the `with` statement), "returned" (handed back by a function: no frame
# binds them), "running" (names in any running frame: a step seen from a hook inside it).
Results = Literal["caller", "returned", "running"]
P = ParamSpec("P")
R = TypeVar("R")


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


def _tensors_within(value: Any, depth: int = 4) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif depth > 0 and _is_record(value):  # a model's structured output: its fields
        for item in _fields_of(value):
            yield from _tensors_within(item, depth - 1)
    elif depth > 0 and isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _tensors_within(item, depth - 1)
    elif depth > 0 and isinstance(value, dict):
        for item in value.values():
            yield from _tensors_within(item, depth - 1)


def _is_record(value: Any) -> bool:
    """A dataclass instance or a NamedTuple: a structured result, read field by field."""
    is_dataclass = dataclasses.is_dataclass(value) and not isinstance(value, type)
    return is_dataclass or (isinstance(value, tuple) and hasattr(value, "_fields"))


def _fields_of(value: Any) -> list[Any]:
    if isinstance(value, tuple):
        return list(value)
    return [getattr(value, f.name, None) for f in dataclasses.fields(value)]


def _record_tensors(value: Any, depth: int = 4) -> Iterator[torch.Tensor]:
    """Tensors that are fields of a record (or of records nested in it), nothing deeper.

    A list or dict field is where a long-lived record accumulates tensors step after
    step: its contents stay candidates, so a growing ``state.history`` is still found.
    """
    for item in _fields_of(value):
        if isinstance(item, torch.Tensor):
            yield item
        elif depth > 0 and _is_record(item):
            yield from _record_tensors(item, depth - 1)


def _records_bound_in(frame: Any) -> list[Any]:
    """Structured results (dataclasses, NamedTuples) bound to names of ``frame``.

    A model's output bound to a name where the block ran is the block's result, field by
    field, as a tensor bound to a name is; a list or a dict bound there is not (it is
    where leaks accumulate), so only records count.
    """
    if not isinstance(frame, types.FrameType):
        return []
    names = frame.f_globals if frame.f_code.co_name == "<module>" else frame.f_locals
    return [v for v in list(names.values()) if _is_record(v)]


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed[:-1]) + f" or {allowed[-1]!r}"
        raise ScopeArgumentError(f"scope {name} must be {options}, got {value!r}")


class TensorScope:
    """Reports tensors created inside a block and still alive after it.

    Use :func:`torchwarden.scope` to make one, as a context manager; code that cannot
    wrap a block in ``with`` (a step hook) calls :meth:`open` and :meth:`close`.
    ``keep(t)`` marks a tensor the block means to hand out; ``report`` holds the
    :class:`ScopeReport` once closed.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        strict: bool = False,
        mode: Mode = "auto",
        results: Results = "caller",
    ) -> None:
        _check("mode", mode, ("auto", "exact", "counters"))
        _check("results", results, ("caller", "returned", "running"))
        self.name = name
        self.strict = strict
        self.mode: Mode = mode
        self.results: Results = results
        self._state = _State.NEW
        self._report: ScopeReport | None = None
        self._kept: dict[int, weakref.ref[torch.Tensor]] = {}
        self._carried: list[weakref.ref[torch.Tensor]] = []
        self._snapshot: ScopeSnapshot | None = None
        self._history: History  # set by open(): the trend of every call under this name

    # -- lifecycle ---------------------------------------------------------------
    @property
    def state(self) -> str:
        """``new``, ``open`` or ``closed``."""
        return self._state.value

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

    def carry(self, tensors: Iterable[torch.Tensor]) -> None:
        """Examine these tensors again at close, though they existed when it opened.

        The step monitor carries the members of each set it saw before, so the
        examination tells whether the set kept them (it grows) or let them go.
        """
        self._carried.extend(weakref.ref(t) for t in tensors)

    def open(self) -> TensorScope:
        """Start the block: read the counters and, when this call is exact, take a census."""
        if self._state is not _State.NEW:
            raise ScopeError(
                f"scope {self.name!r} was already entered; a scope reports on one block. "
                "Create a new torchwarden.scope() for each block."
            )
        self._state = _State.OPEN
        # Walking the stack costs microseconds: only when the scope needs the caller.
        caller = user_frame(sys._getframe(1)) if self.name is None else None
        if self.name is None:
            self.name = site_of(caller).user or "<scope>"
        self._history = history_for(self.name)
        exact = self.mode == "exact" or (self.mode == "auto" and self._history.wants_exact())
        enclosing: Any = None
        if exact and self.results == "caller":
            enclosing = caller or user_frame(sys._getframe(1))
        elif exact and self.results == "running":
            enclosing = RUNNING
        self._snapshot = take_snapshot(self.name, exact=exact, enclosing=enclosing)
        if exact:
            recorder.push()
        return self

    def close(self, error: BaseException | type[BaseException] | None = None) -> ScopeReport:
        """End the block and examine it; returns the report (also kept as ``report``).

        ``error`` is the exception that ended the block, if one did: the report names
        its type. A ``strict`` scope whose block ended normally raises
        :class:`~torchwarden.TensorLeakError` when something leaked.
        """
        snapshot, self._snapshot = self._snapshot, None
        if self._state is not _State.OPEN or snapshot is None:
            raise ScopeError(
                f"scope {self.name!r} is {self._state.value}: close() ends an open scope, "
                "once. Call open() first, or use the scope as a `with` block."
            )
        exception = None if error is None else _type_name(error)
        try:
            self._report = self._finish(snapshot, exception)
        finally:
            self._state = _State.CLOSED
            snapshot.release()
        if self.strict and error is None and self._report.leaks:
            raise TensorLeakError(self._report)
        return self._report

    def __enter__(self) -> TensorScope:
        return self.open()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        self.close(exc if exc is not None else exc_type)
        return False

    def _finish(self, snapshot: ScopeSnapshot, exception: str | None) -> ScopeReport:
        if not snapshot.exact:
            after = sample()
            suspect = self._history.observe(after[0], exact=False, found=False)
            return ScopeReport(
                name=snapshot.name,
                mode="counters",
                suspect=suspect,
                exception=exception,
                duration_s=time.perf_counter() - snapshot.started,
                samples=(snapshot.before, after),
            )
        recorder.pop()
        for record in _records_bound_in(snapshot.enclosing):
            for t in _record_tensors(record):
                self.keep(t)
        try:
            carried = [t for t in (ref() for ref in self._carried) if t is not None]
            outputs = [t for t in (ref() for ref in self._kept.values()) if t is not None]
            report = examine(
                snapshot,
                kept=self._kept.keys(),
                exception=exception,
                carried=carried,
                kept_tensors=outputs,
            )
            del outputs
            del carried
        finally:
            recorder.release()
        self._history.observe(sample()[0], exact=True, found=bool(report.leaks))
        return report

    # -- decorator -----------------------------------------------------------------
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Use the scope's settings as a decorator: each call gets a fresh scope."""
        return scoped(name=self.name, strict=self.strict, mode=self.mode)(fn)


def scope(
    name: str | None = None,
    *,
    strict: bool = False,
    mode: Mode = "auto",
    results: Results = "caller",
) -> TensorScope:
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
        results: where the block's results are bound (they are not leaks): ``caller``
            (names where the ``with`` runs), ``returned`` (nothing binds them: a
            function returns them), ``running`` (names in any running frame).
    """
    return TensorScope(name, strict=strict, mode=mode, results=results)


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

    Where the report goes: each call's report replaces ``wrapped.last_report`` (read it,
    or print it, after the call); nothing is printed. With ``strict=True`` a call that
    leaks raises :class:`~torchwarden.TensorLeakError`, whose ``report`` is the same.

    >>> import torch, torchwarden
    >>> @torchwarden.scoped
    ... def step(x):
    ...     return x * 2
    >>> _ = step(torch.ones(2))
    >>> step.last_report.ok
    True
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        key = name or f"{func.__module__}.{func.__qualname__}"

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            s = TensorScope(key, strict=strict, mode=mode, results="returned").open()
            try:
                result = func(*args, **kwargs)
            except BaseException as e:
                wrapper.last_report = s.close(e)  # type: ignore[attr-defined]
                raise
            s.keep(result)
            try:
                wrapper.last_report = s.close()  # type: ignore[attr-defined]
            except TensorLeakError as e:
                wrapper.last_report = e.report  # type: ignore[attr-defined]
                raise
            return result

        wrapper.last_report = None  # type: ignore[attr-defined]
        return wrapper

    return decorate(fn) if fn is not None else decorate


def _type_name(error: BaseException | type[BaseException]) -> str:
    return (error if isinstance(error, type) else type(error)).__name__
