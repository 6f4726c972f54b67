"""What holds a tensor, as the user would name it, and how frames are read safely.

The vocabulary shared by the walk (``referrers.py``) and its phrasing (``render.py``):
a :class:`Holder` is the readable path (``global history[3]``) and its kind, and
:func:`frame_locals` reads a frame's variables without extending any local's life.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Any

__all__ = ["CO_OPTIMIZED", "RUNNING", "UNREACHABLE", "Holder", "frame_locals"]

RUNNING: Any = object()  # `enclosing` sentinel: every running frame
UNREACHABLE = "no Python referrer: held from C++ (an autograd graph, a hook, an extension)"
CO_OPTIMIZED = 0x0001  # a function's frame (its locals live in the frame, not a dict)
_SNAPSHOT_LOCALS = sys.version_info < (3, 13)  # PEP 667 made f_locals a live view


@dataclass(frozen=True)
class Holder:
    """A readable path to a tensor, and what kind of thing holds it."""

    path: str
    kind: str  # global, local, closure, default, generator, state, ipython, internal, unknown
    frame_binding: str | None = None  # set when the path is one name in the given frame
    # entries of the containers on the path (lists, dicts, deques, sets): a set that
    # grows shows here even when the examination saw none of its new members
    extent: int = 0

    def __str__(self) -> str:
        return self.path


def frame_locals(frame: types.FrameType) -> dict[str, Any]:
    """A copy of a frame's local variables that leaves no reference behind.

    Before Python 3.13, reading ``f_locals`` of a function frame caches a snapshot dict
    on the frame, which would keep every local alive until the function returns, even
    after the user's ``del x``. The cache is emptied once copied.
    """
    ns = frame.f_locals
    copy = dict(ns)
    if _SNAPSHOT_LOCALS and frame.f_code.co_flags & CO_OPTIMIZED and ns is not frame.f_globals:
        ns.clear()
    return copy
