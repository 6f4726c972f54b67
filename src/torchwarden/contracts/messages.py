"""The text of a broken contract: what, where, expected vs got, the bindings, the fix.

Every message has the same lines, so a reader (and a test) finds each fact in one place::

    Encoder.forward: argument `mask` has the wrong shape
      expected: bool[batch seq]
      got:      bool (32, 100)
      why:      dimension 1 (seq) is 100, but seq=128 (from x)
      bindings: batch=32 (from x), seq=128 (from x)
      passed at: train.py:41
      fix:      ...

Where a tensor was created is known only when something records creation sites
(:func:`set_creation_lookup`, the hook a scope or the notebook extension can fill);
otherwise the message names the user's line that made the call.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

import torch

from torchwarden import frames
from torchwarden.errors import ContractError

__all__ = ["Bindings", "format_bindings", "raise_violation", "set_creation_lookup"]

# name -> (size, or a tuple of sizes for `*name`; the path it was first seen at)
Bindings = dict[str, tuple[Any, str]]

_creation_lookup: Callable[[torch.Tensor], str | None] | None = None


def set_creation_lookup(lookup: Callable[[torch.Tensor], str | None] | None) -> None:
    """Install the function that tells where a tensor was created (``file.py:LINE``).

    Something that already records creation sites (an exact scope, the notebook
    extension) installs it; without one, messages name the call's line instead.
    """
    global _creation_lookup
    _creation_lookup = lookup


def format_bindings(bindings: Bindings) -> str:
    """``batch=32 (from x), seq=128 (from x)``; ``(none yet)`` when empty."""
    if not bindings:
        return "(none yet)"
    return ", ".join(
        f"{name}={_size(size)} (from {path})" for name, (size, path) in bindings.items()
    )


def _size(size: Any) -> str:
    if isinstance(size, tuple):
        return "(" + ", ".join(str(s) for s in size) + ")"
    return str(size)


def _site(value: Any, is_output: bool) -> tuple[str, str | None]:
    """(label, site): where the tensor was created if known, else the caller's line."""
    if _creation_lookup is not None and isinstance(value, torch.Tensor):
        created = _creation_lookup(value)
        if created:
            return "created at", created
    if torch.compiler.is_compiling():  # no frames to read while tracing
        return "called at", None
    user = frames.site_of(sys._getframe(1)).user
    return ("returned to" if is_output else "passed at"), user


def raise_violation(
    kind: type[ContractError],
    *,
    where: str,
    path: str,
    problem: str,
    expected: str,
    got: str,
    why: str,
    bindings: Bindings,
    fix: str,
    value: Any = None,
) -> NoReturn:
    """Raise ``kind`` with the standard message (module docstring)."""
    is_output = path == "output" or path.startswith(("output.", "output["))
    subject = (
        "the output" if path == "output" else f"{'output' if is_output else 'argument'} `{path}`"
    )
    label, site = _site(value, is_output)
    lines = [
        f"{where}: {subject} {problem}",
        f"  expected: {expected}",
        f"  got:      {got}",
    ]
    if why:
        lines.append(f"  why:      {why}")
    lines.append(f"  bindings: {format_bindings(bindings)}")
    if site:
        lines.append(f"  {label}: {site}")
    lines.append(f"  fix:      {fix}")
    error = kind("\n".join(lines))
    error.where, error.path, error.expected, error.got = where, path, expected, got
    error.bindings, error.site = dict(bindings), site
    raise error
