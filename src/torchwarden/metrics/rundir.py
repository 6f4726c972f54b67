"""Reading a run directory that someone else may have written: only its known files, safely.

A run directory is named by a row of the run index, and the index row by its owner's
uid. A reader therefore opens only the files listed in :data:`RUN_FILES`, in a
directory owned by that uid, without following a symlink at the last step, and only
regular files owned by the same uid: a row cannot make a reader serve ``/etc/shadow``
or another user's private file.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from torchwarden.metrics.events import Event, parse_line

__all__ = ["RUN_FILES", "EventTail", "open_run_file", "read_run_record"]

RUN_FILES = ("events.jsonl", "run.json", "report.html")
MAX_RECORD_BYTES = 64 * 2**20
MAX_READ_BYTES = 8 * 2**20  # per poll: a huge backlog is read over several polls


def open_run_file(out_dir: Path, name: str, uid: int | None) -> int:
    """A read-only descriptor of ``out_dir/name``; ``uid`` must own both (None: no check).

    Raises ``FileNotFoundError`` for anything it refuses, so callers answer 404 alike
    for a missing file and a forbidden one.
    """
    if name not in RUN_FILES:
        raise FileNotFoundError(name)
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    directory = os.open(out_dir, flags | os.O_DIRECTORY)
    try:
        _check(os.fstat(directory), uid, stat.S_ISDIR)
        fd = os.open(
            name, flags | os.O_NONBLOCK, dir_fd=directory
        )  # NONBLOCK: a FIFO can't hang us
    finally:
        os.close(directory)
    try:
        _check(os.fstat(fd), uid, stat.S_ISREG)
    except FileNotFoundError:
        os.close(fd)
        raise
    return fd


def _check(info: os.stat_result, uid: int | None, is_kind: Any) -> None:
    if not is_kind(info.st_mode) or (uid is not None and info.st_uid != uid):
        raise FileNotFoundError("refused: not the owner's, or not a regular file")


def read_run_record(out_dir: Path, uid: int | None) -> dict[str, Any] | None:
    """``run.json`` as a dict, or ``None`` when absent, refused, too large or not JSON."""
    try:
        fd = open_run_file(out_dir, "run.json", uid)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_RECORD_BYTES + 1)
    if len(data) > MAX_RECORD_BYTES:
        return None
    try:
        record = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


class EventTail:
    """New events of a run's ``events.jsonl`` since the last :meth:`poll`.

    Only complete lines are read: a line still being written (no newline yet) waits
    for the next poll. A file that shrank or was replaced is read again from the start.
    """

    def __init__(self, out_dir: Path, uid: int | None) -> None:
        self.out_dir = out_dir
        self.uid = uid
        self._offset = 0
        self._inode: tuple[int, int] | None = None

    def poll(self) -> list[Event]:
        try:
            fd = open_run_file(self.out_dir, "events.jsonl", self.uid)
        except OSError:
            return []
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) != self._inode or info.st_size < self._offset:
                self._inode, self._offset = (info.st_dev, info.st_ino), 0
            if info.st_size == self._offset:
                return []
            f.seek(self._offset)
            chunk = f.read(MAX_READ_BYTES)
        complete = chunk[: chunk.rfind(b"\n") + 1]
        if not complete and len(chunk) == MAX_READ_BYTES:
            complete = chunk  # one absurd line: skip it rather than stall for ever
        self._offset += len(complete)
        events = (parse_line(line) for line in complete.splitlines())
        return [e for e in events if e is not None]
