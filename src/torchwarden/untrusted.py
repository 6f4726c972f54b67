"""Reading JSON that someone else wrote: bounded in size, depth and numbers, never a hang.

Fingerprint files come from other machines and lease holder records from other users, so
their bytes are input, not data we made. Everything here raises :class:`UntrustedInput`
(a ``ValueError``) with a message that names what is wrong; callers turn it into their
subsystem's :class:`~torchwarden.errors.TorchwardenError` with the fix. Stdlib only: the
lease keeper imports nothing heavier.

Special files are refused before a byte is read: a FIFO would block ``open`` and ``read``
for ever, a device or a ``/proc`` file can be endless or block, a directory is no file.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

__all__ = ["MAX_DEPTH", "UntrustedInput", "check_text", "load_json_file", "loads"]

MAX_DEPTH = 32  # a fingerprint nests 5 deep; anything past this is not one
_MAX_DIGITS = 40  # an int of more digits is no byte count or pid: refuse before int() works on it
_PSEUDO_FS = ("/proc", "/sys", "/dev")


class UntrustedInput(ValueError):
    """Input that does not have the shape it must have; the message says what is wrong."""


def load_json_file(path: str | Path, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in the regular file ``path``, at most ``max_bytes`` long."""
    return loads(read_regular_file(path, max_bytes=max_bytes), max_depth=max_depth)


def read_regular_file(path: str | Path, *, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes`` bytes."""
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer; we refuse it just below
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        _check_regular(path, st)
        if st.st_size > max_bytes:
            raise UntrustedInput(f"is {st.st_size} bytes, more than the {max_bytes} allowed")
        data = os.read(fd, max_bytes + 1)  # one more: a file that grew is caught too
        if len(data) > max_bytes:
            raise UntrustedInput(f"is more than the {max_bytes} bytes allowed")
        return data
    finally:
        os.close(fd)


def _check_regular(path: str | Path, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise UntrustedInput("is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device, socket or other special file"
        raise UntrustedInput(f"is {kind}, not a regular file")
    for root in _PSEUDO_FS:
        try:
            if os.stat(root).st_dev == st.st_dev:
                raise UntrustedInput(
                    f"is a file of the kernel's {root} file system, not a document"
                )
        except FileNotFoundError:
            continue


def loads(data: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` as strict UTF-8 JSON with bounded nesting and numbers."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UntrustedInput(
            f"is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})"
        ) from None
    _check_depth(text, max_depth)
    try:
        return json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_no_constant
        )
    except json.JSONDecodeError as exc:
        raise UntrustedInput(f"is not JSON ({exc})") from None
    except RecursionError:  # _check_depth makes this unreachable; kept as a last guard
        raise UntrustedInput(f"nests deeper than {max_depth} levels") from None


def _check_depth(text: str, max_depth: int) -> None:
    """Refuse deep nesting before the parser recurses into it (brackets inside strings skipped)."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                raise UntrustedInput(f"nests deeper than {max_depth} levels")
        elif char in "]}":
            depth -= 1


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_DIGITS:
        raise UntrustedInput(f"holds an integer of {len(text)} digits; no field is that large")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UntrustedInput(f"holds the number {text[:20]}, too large to be a measurement")
    return value


def _no_constant(name: str) -> float:
    raise UntrustedInput(f"holds {name}, which is not JSON")


def check_text(value: object, *, max_len: int) -> str | None:
    """Why ``value`` is not a short printable string, or ``None`` when it is one.

    Control characters are refused because these strings end up on other people's
    terminals: an escape sequence could rewrite what they see.
    """
    if not isinstance(value, str):
        return f"is {type(value).__name__}, not a string"
    if len(value) > max_len:
        return f"is {len(value)} characters long, more than {max_len}"
    if not value.isprintable():
        return "holds control characters"
    return None
