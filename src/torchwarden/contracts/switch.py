"""The one process-wide switch that turns every contract check on or off.

Off, a checked call costs one attribute read before it calls the function. The
starting value comes from ``TORCHWARDEN_CONTRACTS`` (``0``, ``false``, ``off`` or
``no`` turn checks off); :func:`enable` and :func:`disabled` change it at run time.
Under ``torch.compile`` the flag is read while tracing, so flipping it costs one
recompilation of the functions traced since, never one per call.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["disabled", "enable", "is_enabled", "state"]

_OFF_WORDS = {"0", "false", "off", "no"}


class _State:
    """A holder object: wrappers read ``state.on`` without a global lookup chain."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = os.environ.get("TORCHWARDEN_CONTRACTS", "1").strip().lower() not in _OFF_WORDS


state = _State()


def enable(on: bool = True) -> None:
    """Turn every contract check on (or off with ``enable(False)``)."""
    state.on = bool(on)


def is_enabled() -> bool:
    """Whether contract checks run now."""
    return state.on


@contextmanager
def disabled() -> Iterator[None]:
    """Skip every contract check inside the block (process-wide), then restore."""
    before = state.on
    state.on = False
    try:
        yield
    finally:
        state.on = before
