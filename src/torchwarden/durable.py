"""Files that survive a crash: the one owner of atomic writes and directory fsyncs.

A record, a report or a checkpoint appears whole or not at all. :func:`write_atomic`
writes a private temp file (``mkstemp``) beside the target, fsyncs it, renames it into
place and fsyncs the directory, so a crash or a power cut leaves the old file or the new
one, never half of either; on failure the temp file is removed and the ``OSError``
raised for the caller to explain in its own terms. A leaf: imports nothing of torchwarden.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["fsync_dir", "write_atomic"]


def write_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` whole and durably; ``OSError`` if it cannot."""
    fd, tmp = -1, ""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1  # the file object owns it now
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes it private; records are meant to be read
        os.replace(tmp, path)
        tmp = ""
        fsync_dir(path.parent)
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            with contextlib.suppress(OSError):  # best effort: the error raised says more
                os.unlink(tmp)


def fsync_dir(directory: Path) -> None:
    """Make the directory's entries (names created, renamed, removed) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
