"""The run index's SQLite side: the schema, a writer's connection, a reader's, rows read.

A writer opens only its own user's database (WAL mode, created 0644); a reader opens
another user's read-only without creating a file beside it. A database an earlier
version created lacks the columns added since: its writer adds them, and a reader asks
for them as ``NULL``, so an old database's rows are never skipped.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from torchwarden.runtime import index_files as files
from torchwarden.runtime.index_files import RunRow

__all__ = ["connect_reader", "connect_writer", "read_rows"]

_SCHEMA = """CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, host TEXT NOT NULL, pid INTEGER NOT NULL,
    pid_start REAL, user TEXT NOT NULL, name TEXT NOT NULL, command TEXT NOT NULL,
    out_dir TEXT NOT NULL, gpus TEXT NOT NULL, status TEXT NOT NULL, exit_code INTEGER,
    started_at REAL NOT NULL, last_step_at REAL, ended_at REAL, step INTEGER,
    step_time_s REAL, peak_bytes INTEGER, findings INTEGER, asked TEXT)"""
# added after the first release of the index: (column, type) a writer adds when missing
_ADDED = (("asked", "TEXT"),)


def connect_writer(path: Path) -> sqlite3.Connection:
    """This user's database, in WAL mode; created 0644 so that everyone may read it."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o644))
            path.chmod(0o644)
    files.check_file(path, os.getuid())
    conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: safe against a killed process
    conn.execute(_SCHEMA)
    present = columns_of(conn)
    for name, kind in _ADDED:
        if name not in present:  # a database an earlier version created
            conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
    conn.isolation_level = "DEFERRED"
    return conn


def columns_of(conn: sqlite3.Connection) -> set[str]:
    return {str(info[1]) for info in conn.execute("PRAGMA table_info(runs)")}


def select_list(conn: sqlite3.Connection) -> str:
    """:attr:`RunRow.COLUMNS` to select; ``NULL`` for a column an earlier version lacked."""
    present = columns_of(conn)
    return ", ".join(c if c in present else f"NULL AS {c}" for c in RunRow.COLUMNS)


@contextlib.contextmanager
def connect_reader(path: Path, uid: int) -> Iterator[sqlite3.Connection]:
    """Read ``path`` without creating or changing a file beside it (it may not be ours)."""
    files.check_file(path, uid)
    mode = "ro&readonly_shm=1" if Path(f"{path}-shm").exists() else "ro&immutable=1"
    try:
        conn = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, timeout=5.0)
    except sqlite3.OperationalError:  # the writer closed (and removed its -shm) meanwhile
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, timeout=5.0)
    try:
        yield conn
    finally:
        conn.close()


def read_rows(
    uid: int, path: Path, where: str, params: list[object], limit: int | None
) -> Iterator[RunRow]:
    """The rows of ``uid``'s database at ``path`` matching ``where``, newest first."""
    host, starts = socket.gethostname(), files.ProcessStarts()
    order = f"ORDER BY started_at DESC{'' if limit is None else f' LIMIT {int(limit)}'}"
    try:
        with connect_reader(path, uid) as conn:
            query = f"SELECT {select_list(conn)} FROM runs {where} {order}"
            records = conn.execute(query, params).fetchall()
    except sqlite3.Error:
        return  # a database being created, or not one of ours: skip rather than fail the page
    for record in records:
        row = RunRow.from_record(uid, record)
        if row is not None:
            yield row.with_liveness(host, starts)
