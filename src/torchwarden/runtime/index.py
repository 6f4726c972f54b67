"""The machine-wide run index: every run registers, updates and finishes a row here.

SQLite has no row permissions, so each user writes only a database of their own,
``<index dir>/<uid>/runs.sqlite`` in a directory owned by that user (mode 0755, file
0644), and readers merge them all. Nobody can edit another user's rows because nobody
can write another user's file; nobody can plant a ``-wal`` file beside it (SQLite would
replay it as transactions) because the per-user directory is not writable by others.
The index directory is ``$TORCHWARDEN_INDEX``, else ``index/`` in the lease directory.

A row still ``running`` whose process is gone is shown as ``lost``: the pid and the
process's start time are both recorded, so a reused pid does not look alive.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchwarden.errors import RunIndexError
from torchwarden.runtime import index_db as db
from torchwarden.runtime import index_files as files
from torchwarden.runtime.deferred_flush import DeferredFlush
from torchwarden.runtime.index_files import RunRow, resolve_index_dir

__all__ = [
    "RunFilter",
    "RunHandle",
    "RunIndexError",
    "RunInfo",
    "RunRow",
    "get_run",
    "list_runs",
    "list_users",
    "register",
    "resolve_index_dir",
]

FINAL = ("ok", "failed", "interrupted", "oom", "gave-up")  # gave-up: waited for GPUs, timed out
UPDATABLE = ("step", "status", "last_step_at", "step_time_s", "peak_bytes", "findings", "gpus")
_UPDATABLE = frozenset(UPDATABLE)


@dataclass(frozen=True)
class RunInfo:
    """What a run says about itself when it registers."""

    name: str
    command: str
    out_dir: Path
    gpus: tuple[int, ...] = ()
    status: str = "running"  # or "waiting", while it queues for a GPU lease
    pid: int | None = None  # None: this process
    asked: str | None = None  # what it queues for: "2" (any two GPUs) or "0,2"

    def __post_init__(self) -> None:
        if self.status not in files.LIVE:
            raise RunIndexError(
                f"A run registers as one of {list(files.LIVE)}, not {self.status!r}."
            )


@dataclass(frozen=True)
class RunFilter:
    user: str | None = None
    uid: int | None = None
    status: str | None = None
    limit: int | None = None

    def matches(self, row: RunRow) -> bool:
        return (self.user is None or row.user == self.user) and (
            self.status is None or row.status == self.status
        )


class RunHandle:
    """One run's row, owned by this process: :meth:`update` as it goes, :meth:`finish` at exit.

    Updates are cheap to call every step: they are kept in memory and written at most
    every ``min_interval_s`` seconds (a SIGKILL loses at most that much), so a step
    boundary pays a dict update, not a database commit. What is held back is written
    when its interval ends even if no update follows (a run stalled in a collective or
    a long evaluation still shows its last step).
    """

    def __init__(self, conn: sqlite3.Connection, rowid: int, min_interval_s: float) -> None:
        self.id = f"{os.getuid()}-{rowid}"
        self._conn: sqlite3.Connection | None = conn
        self._rowid = rowid
        self._interval = min_interval_s
        self._pending: dict[str, object] = {}
        self._written = time.monotonic()
        self._lock = threading.Lock()
        self._later = DeferredFlush(self.flush)
        self._seen = {"step": 0, "peak_bytes": 0, "findings": 0}

    def update(self, **fields: object) -> None:
        """Set any of ``step``, ``status``, ``last_step_at`` (epoch s), ``step_time_s``,
        ``peak_bytes``, ``findings`` (a count), ``gpus`` (the indices leased, once known);
        written when the interval has passed."""
        if not fields.keys() <= _UPDATABLE:
            unknown = sorted(fields.keys() - _UPDATABLE)
            raise RunIndexError(f"Cannot update {unknown}; updatable: {list(UPDATABLE)}.")
        if "gpus" in fields:
            fields["gpus"] = json.dumps([int(g) for g in fields["gpus"]])  # type: ignore[attr-defined]
        with self._lock:
            self._pending.update(fields)
            due_in = self._interval - (time.monotonic() - self._written)
            if due_in <= 0:
                self._write()
            else:
                self._later.schedule(due_in)

    def start(self, gpus: Sequence[int]) -> None:
        """A waiting run got its lease: ``running`` on ``gpus`` from now, written at once."""
        gpu_list = json.dumps([int(g) for g in gpus])
        with self._lock:
            self._pending.update(status="running", gpus=gpu_list, started_at=time.time())
            self._write()

    def flush(self) -> None:
        """Write pending updates now."""
        with self._lock:
            self._write()

    def observe(self, event: Mapping[str, Any]) -> None:
        """Take one event as the run streams it to ``events.jsonl`` (a step, a finding, a
        status) and update the row from it: the one call a stream writer needs."""
        kind, seen = event.get("type"), self._seen
        if kind == "step":
            seen["step"] = max(seen["step"], int(event["step"]))
            seen["peak_bytes"] = max(seen["peak_bytes"], _peak(event.get("memory") or {}))
            self.update(
                step=seen["step"], step_time_s=event.get("time_s"), last_step_at=time.time(),
                peak_bytes=seen["peak_bytes"] or None, findings=seen["findings"],
            )  # fmt: skip
        elif kind == "finding":
            seen["findings"] += 1
            self.update(findings=seen["findings"])
        elif kind == "status" and event.get("status") in FINAL:
            self.finish(str(event["status"]), event.get("exit_code"))

    def finish(self, status: str, exit_code: int | None) -> None:
        """Record how the run ended and close the database; later calls do nothing."""
        if status not in FINAL:
            raise RunIndexError(f"finish(status={status!r}): use one of {list(FINAL)}.")
        with self._lock:
            if self._conn is None:
                return
            self._pending.update(status=status, exit_code=exit_code, ended_at=time.time())
            self._later.cancel()
            self._write()
            self._conn.close()
            self._conn = None

    def _write(self) -> None:
        if self._conn is None or not self._pending:
            return
        columns = ", ".join(f"{name} = ?" for name in self._pending)
        with self._conn:  # one transaction: a kill leaves the old row or the new, never half
            self._conn.execute(
                f"UPDATE runs SET {columns} WHERE id = ?", [*self._pending.values(), self._rowid]
            )
        self._pending.clear()
        self._written = time.monotonic()


def _peak(memory: Mapping[str, Mapping[str, int | None]]) -> int:
    """The step's highest device peak: CUDA ``peak_allocated``, else the CPU resident set."""
    cuda = [c.get("peak_allocated") or 0 for d, c in memory.items() if d.startswith("cuda")]
    return max(cuda) if cuda else int(memory.get("cpu", {}).get("rss") or 0)


def register(
    run: RunInfo, *, index_dir: Path | None = None, min_interval_s: float = 2.0
) -> RunHandle:
    """Add this run to the index (status ``running``, or ``waiting`` while it queues for GPUs)."""
    directory = files.own_directory(files.resolve_index_dir(index_dir))
    conn = db.connect_writer(directory / files.DB_NAME)
    pid = run.pid if run.pid is not None else os.getpid()
    row = (
        socket.gethostname(), pid, files.process_start(pid), files.user_name(), run.name,
        run.command, str(Path(run.out_dir).absolute()), json.dumps(list(run.gpus)),
        run.status, time.time(), run.asked,
    )  # fmt: skip
    with conn:
        cursor = conn.execute(
            "INSERT INTO runs (host, pid, pid_start, user, name, command, out_dir, gpus,"
            " status, started_at, asked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
    assert cursor.lastrowid is not None
    return RunHandle(conn, cursor.lastrowid, min_interval_s)


def list_runs(filters: RunFilter | None = None, *, index_dir: Path | None = None) -> list[RunRow]:
    """Every user's runs, newest first; dead ``running`` rows come back as ``lost``.

    Each user's database is asked only for what the filters can use (status, newest
    ``limit``), so a page of the newest runs costs the same with 100 or 100,000 rows.
    """
    filters = filters or RunFilter()
    where, params = _status_clause(filters.status)
    # liveness may turn running into lost, so a live status is filtered after it is known
    limit = None if filters.status in (*files.LIVE, "lost") else filters.limit
    rows: list[RunRow] = []
    for uid, path in files.user_databases(files.resolve_index_dir(index_dir)):
        if filters.uid is not None and filters.uid != uid:
            continue
        if filters.user is not None and files.name_of(uid) != filters.user:
            continue
        rows.extend(db.read_rows(uid, path, where, params, limit))
    rows = [r for r in rows if filters.matches(r)]
    rows.sort(key=lambda r: r.started_at, reverse=True)
    return rows[: filters.limit] if filters.limit is not None else rows


def list_users(*, index_dir: Path | None = None) -> list[str]:
    """Names of the users who have runs in the index."""
    directory = files.resolve_index_dir(index_dir)
    return sorted({files.name_of(uid) for uid, _ in files.user_databases(directory)})


def get_run(run_id: str, *, index_dir: Path | None = None) -> RunRow | None:
    """The row with this id (``<uid>-<n>``), or ``None``."""
    uid, _, number = run_id.partition("-")
    if not (uid.isdigit() and number.isdigit()):
        return None
    for owner, path in files.user_databases(files.resolve_index_dir(index_dir)):
        if owner == int(uid):
            return next(db.read_rows(owner, path, "WHERE id = ?", [int(number)], None), None)
    return None


def _status_clause(status: str | None) -> tuple[str, list[object]]:
    if status is None:
        return "", []
    if status in (*files.LIVE, "lost"):
        return "WHERE status IN ('running', 'waiting')", []
    return "WHERE status = ?", [status]
