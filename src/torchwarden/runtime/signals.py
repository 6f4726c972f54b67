"""The signals that end a run, handled so that every ending still writes its record.

Installed first thing (before torch is imported), the handlers only *note* a signal
until the run is armed; :meth:`RunSignals.arm` then raises it inside the runner, which
records the run as interrupted without starting the workload. While the workload runs,
SIGTERM, SIGHUP (a dropped SSH session) and SIGQUIT raise :class:`Terminated` and
Ctrl-C raises ``KeyboardInterrupt``, so the script unwinds as under ``python``. Once it
has ended, :meth:`RunSignals.defer` makes every further signal (a second Ctrl-C while
children are reaped) a note again: the record and the script's exit code win.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any, NoReturn

__all__ = ["SIGNALS", "RunSignals", "Terminated", "run_signals"]

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class Terminated(BaseException):
    """A signal asked the run to stop: unwind like Ctrl-C so the record is still written."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class RunSignals:
    """Notes signals until armed, raises them while armed, notes them again once deferred.

    ``pending`` is the first signal seen: the one the run's status and exit code name.
    """

    def __init__(self) -> None:
        self.pending: int | None = None
        self.armed = False
        self.installed = False
        # the command line leaves through os._exit with the handlers still noting: a
        # signal after the record was written must not kill it with another exit code
        self.kept_until_exit = False
        self._previous: dict[int, Any] = {}

    def install(self) -> RunSignals:
        """Take over :data:`SIGNALS` (main thread only; elsewhere Python's defaults stay)."""
        if not self.installed and threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self.handler) for s in SIGNALS}
            self.installed = True
        return self

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if self.pending is None:
            self.pending = signum
        if self.armed:  # as under python: each Ctrl-C reaches the script
            _raise(signum)

    def arm(self) -> None:
        """Raise signals from now on; one that came during start-up is raised at once."""
        self.armed = True
        if self.pending is not None:
            self.armed = False
            _raise(self.pending)

    def defer(self) -> None:
        self.armed = False

    def uninstall(self) -> None:
        """Put back the handlers :meth:`install` replaced; forget what was noted."""
        if self.installed:
            for s in SIGNALS:
                signal.signal(
                    s, signal.SIG_DFL if s != signal.SIGINT else signal.default_int_handler
                )
            self.installed = False
        self.pending, self.armed = None, False


def _raise(signum: int) -> NoReturn:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


_SIGNALS = RunSignals()


def run_signals() -> RunSignals:
    """The process's one :class:`RunSignals` (signal handlers are per process)."""
    return _SIGNALS
