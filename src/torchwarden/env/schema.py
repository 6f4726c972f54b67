"""The shape of a ``torchwarden.env/1`` document, checked before anything reads it.

A fingerprint file may come from another machine, an old version or a hand edit, so
every field that a rule, ``env diff`` or ``env dockerfile`` reads is checked for its
type (and versions for their form) here, once; the readers can then trust what they
get. Unknown fields are allowed (``/1`` may grow) and only bounded by the loader.
The layout is documented in ``docs/env-schema.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from torchwarden.errors import FingerprintError

__all__ = ["check_document"]

LEVELS = ("skip", "ok", "warn", "fail")


@dataclass(frozen=True)
class Pattern:
    """A string matching ``regex`` (and ``None`` when ``optional``)."""

    regex: re.Pattern[str]
    example: str
    optional: bool = True


@dataclass(frozen=True)
class ListOf:
    item: Any


@dataclass(frozen=True)
class MapOf:
    value: Any


OPT_STR, OPT_INT, OPT_BOOL = (str, None), (int, None), (bool, None)
OPT_NUM = (int, float, None)
# a release, not a sentence: digits first, then what versions are made of
VERSION = Pattern(
    re.compile(r"[0-9]{1,6}(\.[0-9A-Za-z]{1,20}){0,5}([+.-][0-9A-Za-z_.]{1,40})?"), "2.11.0+cu130"
)
ARCH = Pattern(re.compile(r"[A-Za-z0-9_]{1,32}"), "sm_90", optional=False)
LEVEL = Pattern(re.compile("|".join(LEVELS)), "ok", optional=False)

DEVICE: dict[str, Any] = {"index": OPT_INT, "name": OPT_STR, "compute_capability": VERSION,
          "memory_bytes": OPT_INT, "multiprocessors": OPT_INT}  # fmt: skip
PCIE = {"gen": OPT_INT, "width": OPT_INT, "max_gen": OPT_INT, "max_width": OPT_INT}
FINGERPRINT: dict[str, Any] = {
    "python": {"version": VERSION, "implementation": OPT_STR, "executable": OPT_STR,
               "include_dir": OPT_STR},
    "platform": {"system": OPT_STR, "release": OPT_STR, "machine": OPT_STR, "libc": OPT_STR},
    "torch": {"version": VERSION, "git_version": OPT_STR, "cuda": VERSION, "hip": OPT_STR,
              "debug": OPT_BOOL, "arch_list": (ListOf(ARCH), None), "cudnn": VERSION,
              "nccl": VERSION, "error": OPT_STR, "cuda_available": OPT_BOOL,
              "device_count": OPT_INT, "cuda_warnings": ListOf(OPT_STR),
              "devices": ListOf(DEVICE)},
    "numpy": {"version": VERSION, "torch_interop": OPT_STR},
    "triton": {"version": VERSION},
    "toolchain": {"cc": OPT_STR, "cxx": OPT_STR, "python_headers": OPT_BOOL},
    "driver": {"version": VERSION, "cuda": VERSION, "source": OPT_STR, "error": OPT_STR},
    "gpus": ListOf({**DEVICE, "pcie": (PCIE, None)}),
    "host": {"cpu_count": OPT_INT, "cpu_affinity": OPT_INT, "memory_bytes": OPT_INT,
             "cgroup_memory_limit_bytes": OPT_INT, "shm_bytes": OPT_INT,
             "container": ({"detected": OPT_BOOL, "runtime": OPT_STR,
                            "evidence": ListOf(str)}, None)},
    "variables": MapOf(OPT_STR),
}  # fmt: skip
FINDING: dict[str, Any] = {"kind": str, "title": str, "subject": str, "message": str, "fix": str,
                           "symptom": str, "error": OPT_STR, "output": str,
                           "duration_s": OPT_NUM, "details": ({}, None)}  # fmt: skip
_NEEDED = "__required__"  # keys a dict spec must have: the printers index them
DOCUMENT: dict[str, Any] = {
    "schema": str, "created": OPT_STR, "torchwarden": OPT_STR, "source": OPT_STR,
    "fingerprint": FINGERPRINT,
    "rules": ListOf({**FINDING, "rule": str, "verdict": LEVEL, _NEEDED: ("rule", "verdict")}),
    "probes": ListOf({**FINDING, "probe": str, "status": LEVEL,
                      _NEEDED: ("probe", "status", "message", "fix")}),
}  # fmt: skip
# C0 and C1 control characters other than tab and newline: they could drive a terminal
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def check_document(document: Any) -> None:
    """Raise :class:`FingerprintError` naming the first field that is not as documented."""
    _check(document, DOCUMENT, "")


def _check(value: Any, spec: Any, where: str) -> None:
    if isinstance(spec, tuple):
        _check_any(value, spec, where)
    elif isinstance(spec, dict):
        if not isinstance(value, dict):
            raise _wrong(where, "an object", value)
        for key in spec.get(_NEEDED, ()):
            if key not in value:
                raise FingerprintError(
                    f"{where} has no {key!r}; record the fingerprint again with "
                    "`torchwarden doctor --json PATH`."
                )
        for key, sub in spec.items():
            if key in value and key != _NEEDED:
                _check(value[key], sub, f"{where}.{key}" if where else key)
    elif isinstance(spec, ListOf):
        if not isinstance(value, list):
            raise _wrong(where, "a list", value)
        for i, item in enumerate(value):
            _check(item, spec.item, f"{where}[{i}]")
    elif isinstance(spec, MapOf):
        if not isinstance(value, dict):
            raise _wrong(where, "an object", value)
        for key, item in value.items():
            _check_text(key, f"a key of {where}")
            _check(item, spec.value, f"{where}.{key}")
    elif isinstance(spec, Pattern):
        _check_pattern(value, spec, where)
    else:
        _check_any(value, (spec,), where)


def _check_any(value: Any, allowed: tuple[Any, ...], where: str) -> None:
    """``value`` matches one of ``allowed``: a type, ``None``, or a nested spec."""
    for spec in allowed:
        if spec is None and value is None:
            return
        if isinstance(spec, type):
            if isinstance(value, spec) and not (isinstance(value, bool) and spec is not bool):
                if isinstance(value, str):
                    _check_text(value, where)
                return
        elif spec is not None:
            _check(value, spec, where)
            return
    names = " or ".join("null" if s is None else _name(s) for s in allowed)
    raise _wrong(where, names, value)


def _check_pattern(value: Any, spec: Pattern, where: str) -> None:
    if value is None and spec.optional:
        return
    if not isinstance(value, str) or not spec.regex.fullmatch(value):
        raise _wrong(where, f"a string like {spec.example!r}", value)


def _check_text(value: str, where: str) -> None:
    if _CONTROL.search(value):
        raise FingerprintError(
            f"{where} holds control characters, which doctor never writes; "
            "record the fingerprint again with `torchwarden doctor --json PATH`."
        )


def _name(spec: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if isinstance(spec, type):
        return names.get(spec, spec.__name__)
    return "an object" if isinstance(spec, dict) else "a list"


def _wrong(where: str, expected: str, value: Any) -> FingerprintError:
    shown = type(value).__name__ if not isinstance(value, (str, int, float)) else repr(value)[:40]
    return FingerprintError(
        f"{where or 'the document'} should be {expected}, not {shown}; the file is not a "
        "fingerprint doctor wrote (or was edited). Record one with `torchwarden doctor --json PATH`."
    )
