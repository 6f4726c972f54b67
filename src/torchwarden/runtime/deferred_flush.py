"""A write held back to save a step's time, made anyway once its interval has passed.

The event stream and the run index both batch what a step produces and write it when
enough has gathered or enough time has passed, checked when the next step arrives. A
run that stalls (a collective waiting for a peer, a long evaluation, a hang) sends no
next step, so what its last steps produced would wait unwritten. :class:`DeferredFlush`
makes that write from a timer thread when the interval ends: a stalled or then killed
run shows, and keeps, its last step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["DeferredFlush"]


class DeferredFlush:
    """Calls ``flush`` once, ``delay`` seconds after :meth:`schedule`, unless one is pending."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def schedule(self, delay: float) -> None:
        """Flush in ``delay`` seconds; a flush already pending covers this one (cheap per step)."""
        if self._timer is not None:
            return
        with self._lock:
            if self._timer is None:
                self._timer = threading.Timer(max(0.0, delay), self._fire)
                self._timer.daemon = True  # a run's exit never waits for it
                self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
        self._flush()
