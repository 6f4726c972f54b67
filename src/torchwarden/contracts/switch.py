"""The one process-wide switch that turns every contract check on or off.

Off, a checked call costs one attribute read before it calls the function. The
starting value comes from ``TORCHWARDEN_CONTRACTS``: ``0``, ``false``, ``off`` or
``no`` turn checks off; ``eager`` keeps them on except while ``torch.compile``
traces. :func:`enable` and :func:`disabled` change it at run time. Under
``torch.compile`` the flags are read while tracing, so flipping one costs one
recompilation of the functions traced since, never one per call.

Checks traced by ``torch.compile`` add no graph break and no recompilation, but dynamo
guards on the contract it read, a few microseconds per compiled call; ``eager`` (or
``enable(compiled=False)``) leaves compiled code exactly as without contracts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["disabled", "enable", "is_enabled", "state"]

_OFF_WORDS = {"0", "false", "off", "no"}


class _State:
    """A holder object: wrappers read ``state.on`` without a global lookup chain."""

    __slots__ = ("on", "skip_compiled")

    def __init__(self) -> None:
        word = os.environ.get("TORCHWARDEN_CONTRACTS", "1").strip().lower()
        self.on = word not in _OFF_WORDS
        self.skip_compiled = word == "eager"


state = _State()


def enable(on: bool = True, *, compiled: bool | None = None) -> None:
    """Turn every contract check on (or off with ``enable(False)``).

    ``compiled=False`` skips checks while ``torch.compile`` traces (eager calls are
    still checked); ``compiled=True`` traces them again; None leaves it as it is.
    """
    state.on = bool(on)
    if compiled is not None:
        state.skip_compiled = not compiled


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
