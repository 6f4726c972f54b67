"""Leave promptly when told to: SIGTERM ends the process even while it waits in a collective.

When one worker dies, torchrun sends SIGTERM to the others and waits before it kills
them. A Python signal handler runs only when the main thread returns to the
interpreter, which it does not while blocked in a collective waiting for the dead
peer. :func:`leave_promptly` has the C-level handler wake a watcher thread (through
``signal.set_wakeup_fd``); the thread runs a short callback (record the step, flush
logs) and exits the process. A save in flight is abandoned: its temporary directory
is invisible to readers and the previous checkpoint stays the newest.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable

from torchwarden.errors import TrainArgumentError

__all__ = ["leave_promptly"]


def leave_promptly(
    on_leave: Callable[[int], None] | None = None,
    signals: Iterable[int] = (signal.SIGTERM,),
) -> None:
    """Exit (code 128 + signal) as soon as one of ``signals`` arrives, after ``on_leave(signum)``.

    Call from the main thread, once, early. ``on_leave`` runs in a helper thread and
    should be quick: it has no time limit, and the process exits when it returns. It
    takes over ``signal.set_wakeup_fd``, which an asyncio event loop in the main thread
    also uses: do not combine the two.
    """
    if threading.current_thread() is not threading.main_thread():
        raise TrainArgumentError(
            "leave_promptly() must be called from the main thread (signal handlers live there); "
            "call it early in the script, before starting threads"
        )
    receiver, sender = socket.socketpair()
    sender.setblocking(False)
    wanted = set(signals)
    for signum in wanted:
        signal.signal(signum, _noted)
    signal.set_wakeup_fd(sender.fileno(), warn_on_full_buffer=False)
    watcher = threading.Thread(
        target=_watch,
        args=(receiver, sender, wanted, on_leave),
        name="torchwarden-leave",
        daemon=True,
    )
    watcher.start()


def _noted(signum: int, frame: object) -> None:
    """The Python-level handler: the watcher thread does the work; this only keeps the default away."""


def _watch(
    receiver: socket.socket,
    sender: socket.socket,
    wanted: set[int],
    on_leave: Callable[[int], None] | None,
) -> None:
    while True:
        for signum in receiver.recv(64):
            if signum in wanted:
                _leave(signum, on_leave)


def _leave(signum: int, on_leave: Callable[[int], None] | None) -> None:
    try:
        if on_leave is not None:
            on_leave(signum)
        run = sys.modules.get("torchwarden.runtime.live")
        if run is not None:  # under torchwarden run: its record is written before the exit
            run.leave_now(signum)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signum)
