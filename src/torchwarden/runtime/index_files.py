"""The run index's files and rows: per-user directories, owner checks, rows read back.

Separate from ``index.py`` (register, update, list) and ``index_db.py`` (SQLite
connections and the schema) because sharing a directory
between users is its own subject: the index directory is world-writable and sticky
(like the lease directory); each user's subdirectory is theirs alone; a reader
opens no path through a symlink and only files owned by the uid they are named for.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import pwd
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from torchwarden.errors import RunIndexError
from torchwarden.runtime.lease_files import resolve_lease_dir

__all__ = ["RunRow", "process_start", "resolve_index_dir"]

INDEX_VAR = "TORCHWARDEN_INDEX"
DB_NAME = "runs.sqlite"
LIVE = ("running", "waiting")


@dataclass(frozen=True)
class RunRow:
    """One run as the index knows it. Every field came from a file its owner wrote."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "id", "host", "pid", "pid_start", "user", "name", "command", "out_dir", "gpus",
        "status", "exit_code", "started_at", "last_step_at", "ended_at", "step",
        "step_time_s", "peak_bytes", "findings", "asked",
    )  # fmt: skip
    id: str
    uid: int
    host: str
    pid: int
    pid_start: float | None
    user: str
    name: str
    command: str
    out_dir: Path
    gpus: tuple[int, ...]
    status: str
    exit_code: int | None
    started_at: float
    last_step_at: float | None
    ended_at: float | None
    step: int | None
    step_time_s: float | None
    peak_bytes: int | None
    findings: int | None
    asked: str | None  # the GPUs a run queued for, as asked: "2" (any two) or "0,2"

    @classmethod
    def from_record(cls, uid: int, record: tuple[Any, ...]) -> RunRow | None:
        """A row from SQLite, or ``None`` when a field has the wrong type."""
        values = dict(zip(cls.COLUMNS, record))
        try:
            gpus = tuple(int(g) for g in json.loads(values["gpus"]))
            # the owner of the file is who wrote the row; the name it claims is not trusted
            values.update(id=f"{uid}-{int(values['id'])}", gpus=gpus, user=name_of(uid))
            values["out_dir"] = Path(values["out_dir"])
            row = cls(uid=uid, **values)
        except (TypeError, ValueError):
            return None
        return row if all(_typed(row, name) for name in cls.COLUMNS[1:]) else None

    def with_liveness(self, this_host: str, starts: ProcessStarts) -> RunRow:
        """``lost`` for a live status whose process on this host is gone or was replaced."""
        if self.status not in LIVE or self.host != this_host:
            return self
        started = starts.of(self.pid)
        alive = started is not None and (
            self.pid_start is None or abs(started - self.pid_start) < 1.0
        )
        return self if alive else replace(self, status="lost")

    def to_dict(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in self.COLUMNS},
            "uid": self.uid,
            "out_dir": str(self.out_dir),
            "gpus": list(self.gpus),
        }


_TYPES: dict[str, tuple[type, ...]] = {
    "pid": (int,), "pid_start": (float, int, type(None)), "exit_code": (int, type(None)),
    "started_at": (float, int), "last_step_at": (float, int, type(None)),
    "ended_at": (float, int, type(None)), "step": (int, type(None)),
    "step_time_s": (float, int, type(None)), "peak_bytes": (int, type(None)),
    "findings": (int, type(None)), "out_dir": (Path,), "gpus": (tuple,),
    "asked": (str, type(None)),
}  # fmt: skip


def _typed(row: RunRow, name: str) -> bool:
    return isinstance(getattr(row, name), _TYPES.get(name, (str,)))


def process_start(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds), or ``None`` when there is none."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


class ProcessStarts:
    """Start times of processes, each looked up once per listing (ranks share a pid's row)."""

    def __init__(self) -> None:
        self._seen: dict[int, float | None] = {}

    def of(self, pid: int) -> float | None:
        if pid not in self._seen:
            self._seen[pid] = process_start(pid)
        return self._seen[pid]


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, as in some containers
        return f"uid {os.getuid()}"


@functools.cache
def name_of(uid: int) -> str:
    """The account name of ``uid``: what a reader shows, whatever name the row claims."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def resolve_index_dir(index_dir: Path | None = None) -> Path:
    """``index_dir``, else ``$TORCHWARDEN_INDEX``, else ``index/`` in the lease directory."""
    if index_dir is not None:
        return Path(index_dir)
    env = os.environ.get(INDEX_VAR)
    return Path(env) if env else resolve_lease_dir() / "index"


def own_directory(index_dir: Path) -> Path:
    """This user's directory in the index, created 0755 and checked to be theirs."""
    _make(index_dir, 0o1777)  # shared, sticky: anyone adds their directory, nobody removes others'
    mine = index_dir / str(os.getuid())
    _make(mine, 0o755)
    info = os.lstat(mine)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise RunIndexError(
            f"{mine} is not a directory that only uid {os.getuid()} can write (owner uid "
            f"{info.st_uid}, mode {stat.filemode(info.st_mode)}); someone else made it. Remove "
            f"it, or set {INDEX_VAR} to another directory."
        )
    return mine


def _make(directory: Path, mode: int) -> None:
    """Create ``directory`` with ``mode``; a missing parent (the lease directory, when
    the index is the first to need it) is made shared and sticky, as leases expect."""
    try:
        directory.mkdir()
    except FileExistsError:
        return
    except FileNotFoundError:
        _make(directory.parent, 0o1777)
        _make(directory, mode)
        return
    except OSError as e:
        raise RunIndexError(
            f"Cannot create the run index directory {directory}: {e.strerror}. "
            f"Set {INDEX_VAR} to a directory every GPU user can write to."
        ) from None
    directory.chmod(mode)  # the umask trimmed the mode mkdir was given


def check_file(path: Path, uid: int) -> None:
    info = os.lstat(path)  # lstat: a symlink is refused, not followed
    if not stat.S_ISREG(info.st_mode) or info.st_uid != uid or info.st_mode & 0o022:
        raise RunIndexError(
            f"{path} is not a regular file owned by uid {uid} and writable only by it; "
            "it is not read. Remove it, or ask its owner to."
        )


def user_databases(index_dir: Path) -> Iterator[tuple[int, Path]]:
    """``(uid, database)`` for each user directory that belongs to the uid it is named for."""
    try:
        entries = list(os.scandir(index_dir))
    except OSError:
        return
    for entry in entries:
        if not entry.name.isdigit() or not entry.is_dir(follow_symlinks=False):
            continue
        info = entry.stat(follow_symlinks=False)
        if info.st_uid == int(entry.name) and not info.st_mode & 0o022:
            path = Path(entry.path) / DB_NAME
            if path.is_file() and not path.is_symlink():
                yield int(entry.name), path
