"""Small composable checks of JSON values, each naming the path of what it rejects.

A check is ``check(value, path)``: it returns when ``value`` fits and raises
:class:`~torchwarden.errors.ReportError` naming ``path`` (``steps[3].memory['cuda:0']``)
when it does not. ``schema.py`` builds the run record's validator from these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from torchwarden.errors import ReportError

__all__ = [
    "BOOL",
    "BYTES",
    "INT",
    "OBJECT",
    "SECONDS",
    "STR",
    "TIME",
    "Check",
    "fail",
    "is_int",
    "join",
    "list_of",
    "null",
    "obj",
    "of",
    "shape",
]

Check = Callable[[Any, str], None]


def fail(path: str, expected: str, value: Any) -> ReportError:
    shown = repr(value) if len(repr(value)) < 60 else f"{type(value).__name__} {repr(value)[:50]}…"
    return ReportError(f"run record: {path or 'the record'} must be {expected}, got {shown}.")


def of(expected: str, test: Callable[[Any], bool]) -> Check:
    def check(value: Any, path: str) -> None:
        if not test(value):
            raise fail(path, expected, value)

    return check


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_time(v: Any) -> bool:
    try:  # fromisoformat takes "Z" only from Python 3.11
        datetime.fromisoformat(v.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return False
    return True


STR = of("a string", lambda v: isinstance(v, str))
INT = of("an integer", is_int)
BYTES = of("an integer number of bytes >= 0", lambda v: is_int(v) and v >= 0)
SECONDS = of("a number of seconds >= 0", lambda v: _is_number(v) and v >= 0)
BOOL = of("true or false", lambda v: isinstance(v, bool))
TIME = of("an ISO 8601 time such as '2026-11-21T12:00:00Z'", _is_time)


def null(check: Check) -> Check:
    def nullable(value: Any, path: str) -> None:
        if value is not None:
            try:
                check(value, path)
            except ReportError as e:  # say that null was allowed too
                raise ReportError(str(e).replace(", got", " (or null), got", 1)) from None

    return nullable


def obj(fields: Mapping[str, Check], *, optional: Mapping[str, Check] | None = None) -> Check:
    """A JSON object with ``fields`` (all required) and ``optional`` ones checked if present."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise fail(path, "an object", value)
        for key, field_check in fields.items():
            if key not in value:
                raise ReportError(f"run record: {join(path, key)} is missing.")
            field_check(value[key], join(path, key))
        for key, field_check in (optional or {}).items():
            if key in value:
                field_check(value[key], join(path, key))

    return check


def shape(typed: Any, checks: Mapping[str, Check]) -> Check:
    """The check of a typed dictionary: its required keys present, its optional ones if there."""
    required, optional = typed.__required_keys__, typed.__optional_keys__
    if set(checks) != required | optional:  # a field added to one side only: a bug here
        raise ReportError(
            f"{typed.__name__}: checks for {sorted(checks)}, keys {sorted(required | optional)}"
        )
    return obj(
        {k: c for k, c in checks.items() if k in required},
        optional={k: c for k, c in checks.items() if k in optional},
    )


def list_of(item: Check, *, non_empty: bool = False) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list) or (non_empty and not value):
            raise fail(path, "a non-empty list" if non_empty else "a list", value)
        for i, element in enumerate(value):
            item(element, f"{path}[{i}]")

    return check


def join(path: str, key: str) -> str:
    return key if not path else f"{path}.{key}" if key.isidentifier() else f"{path}[{key!r}]"


OBJECT = of("an object", lambda v: isinstance(v, Mapping))
