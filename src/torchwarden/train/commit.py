"""The commit protocol: a checkpoint directory appears whole, or not at all.

Writers fill a private temporary directory beside the target (``mkdtemp``, named after
the writing host and process), fsync every file, write the manifest last, fsync the
directory, ``rename`` it to ``step-<N>`` and fsync the parent, so the new name and its
contents reach the disk together. A crash at any moment leaves either the old set of
checkpoints or the old set plus a complete new one; a temporary directory left by a
dead writer is invisible to readers and removed by the next writer on the same host.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

import psutil

from torchwarden.durable import fsync_dir

__all__ = [
    "checkpoint_name",
    "commit_directory",
    "list_checkpoints",
    "make_temp",
    "remove_stale_temps",
    "retire",
]

_PREFIX = ".tmp-"
_STEP_NAME = re.compile(r"^step-(\d{12})$")
_TEMP_NAME = re.compile(r"^\.tmp-(save|retire)\.([A-Za-z0-9_\-]{1,64})\.(\d{1,10})\.")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_\-]", "_", socket.gethostname())[:64] or "host"


def checkpoint_name(step: int) -> str:
    return f"step-{step:012d}"


def make_temp(root: Path, kind: str = "save") -> Path:
    """A new private directory in ``root`` whose name says which host and process own it."""
    return Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{kind}.{_host()}.{os.getpid()}.", dir=root))


def _directories(root: Path, name: re.Pattern[str]) -> list[tuple[re.Match[str], os.DirEntry[str]]]:
    """Real directories (not links) in ``root`` whose names match ``name``."""
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return []
    return [
        (match, entry)
        for entry in entries
        if (match := name.match(entry.name)) and entry.is_dir(follow_symlinks=False)
    ]


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Committed checkpoints in ``root`` as (step, path), oldest first; links are ignored."""
    return sorted((int(m.group(1)), Path(e.path)) for m, e in _directories(root, _STEP_NAME))


def commit_directory(temp: Path, root: Path, step: int) -> Path:
    """Rename the finished ``temp`` to the checkpoint of ``step`` and make that durable.

    A checkpoint of the same step already there is first moved aside (renamed into a
    retire directory), so a crash in between leaves the older checkpoints visible.
    """
    fsync_dir(temp)
    target = root / checkpoint_name(step)
    if target.is_dir() and not target.is_symlink():
        retire(target, root)
    os.rename(temp, target)
    fsync_dir(root)
    return target


def retire(path: Path, root: Path) -> None:
    """Take a checkpoint out of sight atomically (a rename), then delete it."""
    aside = make_temp(root, "retire")
    os.rename(path, aside / path.name)
    fsync_dir(root)
    shutil.rmtree(aside, ignore_errors=True)


def remove_stale_temps(root: Path) -> list[Path]:
    """Delete temporary directories of writers on this host that are no longer running.

    A directory counts as stale only when its name is ours, it belongs to this user,
    was made on this host, and its process is gone (or the pid now belongs to a process
    started after the directory was made). Other hosts' directories are left alone.
    """
    removed = []
    for match, entry in _directories(root, _TEMP_NAME):
        if match.group(2) != _host():
            continue
        info = entry.stat(follow_symlinks=False)
        if info.st_uid == os.getuid() and not _alive_since(int(match.group(3)), info.st_mtime):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _alive_since(pid: int, made_at: float) -> bool:
    """Whether process ``pid`` exists and was started before ``made_at`` (so it may own it)."""
    if pid == os.getpid():
        return True
    try:
        started = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.Error:
        return True  # cannot tell: keep it
    return bool(started <= made_at + 1.0)
