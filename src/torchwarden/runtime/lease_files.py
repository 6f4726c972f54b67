"""The lease directory, its lock files, and the holder record written into each.

Separate from ``lease.py`` (the locking policy) because ``torchwarden gpus`` only reads
these files, and because the file-system details below are their own subject:
sharing one directory between users, and ``fs.protected_regular``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import json
import os
import shlex
import socket
import stat
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from torchwarden.errors import LeaseError

__all__ = ["Holder", "lock_path", "open_lock_file", "probe", "read_holder", "resolve_lease_dir"]

LEASE_DIR_VAR = "TORCHWARDEN_LEASE_DIR"
DEFAULT_LEASE_DIR = Path("/tmp/torchwarden-leases")
HOLDER_SCHEMA = "torchwarden.lease/1"


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: written by the holder, read by everyone who finds it taken."""

    user: str
    pid: int
    host: str
    command: str
    since: str  # ISO 8601, UTC, seconds: 2026-11-21T10:02:11Z

    @classmethod
    def of_this_process(cls, command: str | None = None) -> Holder:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, as in some containers
            user = f"uid {os.getuid()}"
        return cls(
            user=user,
            pid=os.getpid(),
            host=socket.gethostname(),
            command=command if command is not None else shlex.join(sys.argv),
            since=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    @classmethod
    def unnamed(cls) -> Holder:
        """A holder that has not written its record yet (it does so right after locking)."""
        return cls(user="an unnamed process", pid=-1, host="", command="", since="")

    def describe(self) -> str:
        """``alice (pid 4242, `python train.py`, since 2026-11-21T10:02:11Z)``."""
        if self.pid < 0:
            return self.user
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"{self.user} (pid {self.pid}{where}, `{self.command}`, since {self.since})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def may_be_alive(self) -> bool:
        """False only when the holder's process is known to be gone (same host, no such pid)."""
        if self.pid < 0 or self.host != socket.gethostname():
            return self.pid >= 0
        try:
            os.kill(self.pid, 0)  # signal 0: existence check, sends nothing
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by another user
            return True
        return True

    def write_to(self, fd: int) -> None:
        data = json.dumps({"schema": HOLDER_SCHEMA, **self.to_dict()}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)


def resolve_lease_dir(lease_dir: Path | None = None) -> Path:
    """``lease_dir``, else ``$TORCHWARDEN_LEASE_DIR``, else ``/tmp/torchwarden-leases``."""
    if lease_dir is not None:
        return Path(lease_dir)
    env = os.environ.get(LEASE_DIR_VAR)
    return Path(env) if env else DEFAULT_LEASE_DIR


def lock_path(lease_dir: Path, index: int) -> Path:
    return lease_dir / f"gpu-{index}.lock"


def open_lock_file(path: Path) -> int:
    """Open (creating if needed) a lock file for writing, shareable by every user.

    Opening an existing file with ``O_CREAT`` in a sticky world-writable directory is
    refused when another user owns it and ``fs.protected_regular`` is set (the default
    on many distributions), so open first and create only when it is missing.
    """
    _ensure_dir(path.parent)
    while True:
        try:
            return os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            pass
        except PermissionError:
            raise LeaseError(
                f"Cannot open the lease file {path} for writing (owner uid "
                f"{path.stat().st_uid}, mode {stat.filemode(path.stat().st_mode)}). Ask its "
                f"owner to `chmod 666 {path}`, or set {LEASE_DIR_VAR} to a directory you share."
            ) from None
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue  # someone created it between our two opens; open theirs
        os.fchmod(fd, 0o666)  # the umask trimmed the mode given to os.open
        return fd


def _ensure_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True)
    except FileExistsError:
        return  # whoever made it chose its mode; a private directory is a valid choice
    except OSError as e:
        raise _dir_error(directory, e) from None
    try:
        # world-writable and sticky, like /tmp: others may add lock files, not delete ours
        directory.chmod(0o1777)
    except OSError as e:
        raise _dir_error(directory, e) from None


def _dir_error(directory: Path, e: OSError) -> LeaseError:
    return LeaseError(
        f"Cannot use the lease directory {directory}: {e.strerror}. "
        f"Set {LEASE_DIR_VAR} to a directory every GPU user can write to."
    )


def read_holder(path: Path) -> Holder | None:
    """The holder record in a lock file, or ``None`` when empty or unreadable."""
    try:
        data = json.loads(path.read_bytes() or b"null")
        fields = {k: data[k] for k in ("user", "pid", "host", "command", "since")}
        return Holder(**fields)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def probe(path: Path) -> Holder | None:
    """The current holder of ``path``'s lock, or ``None`` when nobody holds it.

    A record left by a killed holder stays in the file, so the lock, not the file's
    content, decides: a shared lock we can take means the GPU is free.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return read_holder(path) or Holder.unnamed()
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    return None
