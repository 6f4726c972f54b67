"""The launcher's view of its ranks as they go: their steps and findings, for its sinks.

Under ``--nproc-per-node`` each rank streams its own ``rank-N/events.jsonl``; the
launcher owns the run's one row in the run index (one writer per row). A
:class:`RankFollower` reads what the ranks appended, every ``interval_s`` from a
thread and once more at the end, and hands each step and finding to the sinks, as a
single-process run hands its own events. Statuses and attempts stay with the ranks:
the launcher records how the whole run ended itself.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from torchwarden.metrics.events import FindingEvent, StepEvent, event_to_dict
from torchwarden.metrics.rundir import EventTail
from torchwarden.runtime.stream import EventSink

__all__ = ["RankFollower"]

RANK_DIR = re.compile(r"rank-\d{1,6}")


class RankFollower:
    """Hands the ranks' steps and findings under ``out_dir`` to ``sinks`` while in its block."""

    def __init__(self, out_dir: Path, sinks: Sequence[EventSink], interval_s: float = 1.0) -> None:
        self.out_dir = out_dir
        self.sinks = list(sinks)
        self.interval_s = interval_s
        self._tails: dict[str, EventTail] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="torchwarden-ranks", daemon=True)

    def __enter__(self) -> RankFollower:
        if self.sinks:
            self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
            self.poll()  # what the ranks wrote last, before the launcher finishes the row

    def _follow(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def poll(self) -> None:
        """Hand over every step and finding the ranks appended since the last poll."""
        for tail in self._rank_tails():
            for event in tail.poll():
                if isinstance(event, (StepEvent, FindingEvent)):
                    self._hand(event_to_dict(event))

    def _rank_tails(self) -> list[EventTail]:
        try:
            names = [e.name for e in os.scandir(self.out_dir) if RANK_DIR.fullmatch(e.name)]
        except OSError:
            return []
        for name in names:
            if name not in self._tails:
                self._tails[name] = EventTail(self.out_dir / name, os.getuid())
        return [self._tails[name] for name in sorted(self._tails)]

    def _hand(self, event: dict[str, object]) -> None:
        for sink in list(self.sinks):
            try:
                sink.observe(event)
            except Exception as e:  # as in the event stream: a sink never ends the run
                self.sinks.remove(sink)
                warnings.warn(f"torchwarden: {type(sink).__name__} stopped: {e!r}", stacklevel=2)
