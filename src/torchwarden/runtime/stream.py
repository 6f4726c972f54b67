"""``events.jsonl``: the run's record as it happens, so that a killed run keeps its evidence.

One JSON object per line (schema ``torchwarden.events/1``, docs/run-schema.md): a header,
then ``step``, ``finding``, ``attempt`` and ``status`` events. Lines are written with one
``write`` per :data:`BATCH` events, or sooner when :data:`FLUSH_S` seconds have passed,
so a SIGKILL or the OOM killer loses at most the last few steps (the page cache keeps
what was written when the process dies); lines held back are written when
:data:`FLUSH_S` has passed even if no event follows (a run stalled in a collective);
the file is fsynced when the stream closes. A
write that fails (a full disk) stops the stream, never the workload: the error is kept
and reported when the run ends. Sinks (the run index, `--metrics-port`, `--tensorboard`)
see every event as it is emitted; one that fails is dropped with a warning.
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from torchwarden.errors import RecordWriteError
from torchwarden.metrics.events import EVENTS_SCHEMA
from torchwarden.runtime.deferred_flush import DeferredFlush
from torchwarden.runtime.record import iso

__all__ = ["BATCH", "EVENTS", "EVENTS_SCHEMA", "FLUSH_S", "EventSink", "EventStream"]

EVENTS = "events.jsonl"

FLUSH_S = 1.0
BATCH = 8  # lines: a SIGKILL loses at most this many steps (a write costs microseconds)


class EventSink(Protocol):
    """What takes the run's events besides the file: ``observe(event)`` for each one."""

    def observe(self, event: Mapping[str, Any]) -> None: ...


class EventStream:
    """Append-only writer of ``events.jsonl``; open with :meth:`open`, end with :meth:`close`."""

    def __init__(
        self,
        directory: Path,
        name: str,
        *,
        flush_s: float = FLUSH_S,
        sinks: Sequence[EventSink] = (),
    ) -> None:
        self.path = directory / EVENTS
        self.name = name
        self.flush_s = flush_s
        self.sinks = list(sinks)  # also handed every event: the run index, metrics, TensorBoard
        self.error: RecordWriteError | None = None
        self._fd = -1
        self._lines: list[str] = []
        self._flushed = time.monotonic()
        # the timer's flush and the run's emits meet here; re-entrant for a signal handler's
        self._lock = threading.RLock()
        self._later = DeferredFlush(self.flush)

    def open(self, started: float) -> EventStream:
        """Open for appending (a restarted rank adds to its earlier attempt's lines)."""
        try:
            self._fd = os.open(
                self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644
            )
            if os.fstat(self._fd).st_size == 0:
                header = {"schema": EVENTS_SCHEMA, "run": self.name, "started_at": iso(started)}
                self._lines.append(json.dumps(header))
                self.flush()
        except OSError as e:
            self._fail(e)
        return self

    def emit(self, event: dict[str, Any]) -> None:
        """Queue one event; write the queue if it is due; hand it to every sink."""
        for sink in list(self.sinks) if self.sinks else ():  # per step: no copy when none
            try:
                sink.observe(event)
            except Exception as e:  # an exporter must never end the run it watches
                self.sinks.remove(sink)
                warnings.warn(f"torchwarden: {type(sink).__name__} stopped: {e!r}", stacklevel=2)
        if self._fd < 0:
            return
        line = json.dumps(event, default=str)
        with self._lock:
            self._lines.append(line)
            due_in = self.flush_s - (time.monotonic() - self._flushed)
            if len(self._lines) >= BATCH or due_in <= 0:
                self.flush()
            else:
                self._later.schedule(due_in)

    def step(self, record: dict[str, Any]) -> None:
        self.emit({"type": "step", **record})

    def finding(self, finding: dict[str, Any]) -> None:
        self.emit({"type": "finding", **finding})

    def status(self, status: str, exit_code: int | None) -> None:
        self.emit({"type": "status", "status": status, "exit_code": exit_code})

    def flush(self) -> None:
        with self._lock:
            self._flushed = time.monotonic()
            if self._fd < 0 or not self._lines:
                return
            data = ("\n".join(self._lines) + "\n").encode("utf-8")
            self._lines.clear()
            try:
                while data:  # a write to a regular file is whole unless the disk fills
                    data = data[os.write(self._fd, data) :]
            except OSError as e:
                self._fail(e)

    def close(self) -> None:
        """Write what is queued, fsync, close. Safe to call twice."""
        self._later.cancel()
        with self._lock:
            self.flush()
            if self._fd >= 0:
                fd, self._fd = self._fd, -1
                try:
                    os.fsync(fd)
                except OSError as e:
                    self._fail(e)
                finally:
                    os.close(fd)

    def _fail(self, error: OSError) -> None:
        self.error = RecordWriteError(
            f"Cannot write {self.path}: {error.strerror or error}. The run went on without its "
            "event stream; free space or choose another --out."
        )
        self._lines.clear()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
