"""The record while the run goes: every step to ``events.jsonl``, ``run.json`` kept current.

:class:`LiveRecord` receives each step from the step monitor. It streams the step (and
each new finding) to :class:`~torchwarden.runtime.stream.EventStream`, adds it to the
bounded :class:`~torchwarden.runtime.series.StepSeries`, and every :data:`SNAPSHOT_S`
seconds rewrites ``run.json`` with status ``running`` (atomically), so a killed run
leaves a valid record a few seconds old and a stream a second old.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from torchwarden.errors import RecordWriteError
from torchwarden.report.run_record import RunRecord, StepRecord
from torchwarden.runtime.series import StepSeries
from torchwarden.runtime.stream import EventStream

__all__ = ["SNAPSHOT_S", "LiveRecord", "leave_now", "note_resumed", "on_leave", "resumed_from"]

_resumed: list[int] = []  # the step the script's checkpoint loader resumed from, if it said
_leaving: list[Callable[[int], None]] = []  # how this run writes its record from any thread

SNAPSHOT_S = 10.0
_COST_FACTOR = 50  # a long run's rewrite must not cost more than 2% of its time


class LiveRecord:
    """Steps in, stream and snapshots out. ``build`` makes the record from :attr:`series`."""

    def __init__(
        self,
        stream: EventStream,
        build: Callable[[], RunRecord],
        write: Callable[[RunRecord], None],
        *,
        snapshot_s: float = SNAPSHOT_S,
    ) -> None:
        self.stream = stream
        self.series = StepSeries()
        self._build, self._write = build, write
        self._snapshot_s = snapshot_s
        self._next = time.monotonic() + snapshot_s
        self._findings_seen = 0
        self.error: RecordWriteError | None = None

    def step(self, record: dict[str, Any], findings: list[dict[str, Any]]) -> None:
        """One step ended; ``findings`` are the run's findings so far (new ones are streamed)."""
        self.series.add(_as_step(record))
        self.stream.step(record)
        for finding in findings[self._findings_seen :]:
            self.stream.finding(finding)
        self._findings_seen = max(self._findings_seen, len(findings))
        if time.monotonic() >= self._next:
            self.snapshot()

    def snapshot(self) -> None:
        """Rewrite ``run.json`` with status ``running``; a failure stops further snapshots."""
        if self.error is not None:
            return
        started = time.monotonic()
        try:
            self._write(self._build())
        except RecordWriteError as e:
            self.error = e
            return
        cost = time.monotonic() - started
        self._next = time.monotonic() + max(self._snapshot_s, cost * _COST_FACTOR)

    def finish(self, findings: list[dict[str, Any]], status: str, exit_code: int | None) -> None:
        """Stream the findings not streamed yet and the final status, then close the stream."""
        for finding in findings[self._findings_seen :]:
            self.stream.finding(finding)
        self._findings_seen = len(findings)
        self.stream.status(status, exit_code)
        self.stream.close()


def _as_step(record: dict[str, Any]) -> StepRecord:
    return record  # type: ignore[return-value]  # the monitor writes run.json's step shape


def note_resumed(step: int) -> None:
    """Called by ``torchwarden.train`` when a resume picked its checkpoint (step 0: none)."""
    _resumed[:] = [int(step)]


def resumed_from() -> int | None:
    return _resumed[0] if _resumed else None


def on_leave(write: Callable[[int], None] | None) -> None:
    """Set (or clear, with None) what :func:`leave_now` does: the runner writes the record."""
    _leaving[:] = [write] if write is not None else []


def leave_now(signum: int) -> None:
    """The process is about to exit on ``signum`` without unwinding (``train.leave_promptly``):
    write the record now, from whatever thread calls. Does nothing outside ``torchwarden run``."""
    for write in _leaving[:1]:
        _leaving.clear()  # once: a second signal must not write a second, later record
        write(signum)
