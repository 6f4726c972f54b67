"""The lease directory and its lock files, opened as if another user were hostile.

Separate from ``lease.py`` (the locking policy) because ``torchwarden gpus`` only reads
these files, and because sharing one directory between users is its own subject:

- the directory is opened without following a symbolic link and must be a real
  directory owned by root or by us; if others may write to it, it must be sticky,
  so that nobody but a file's owner can delete or replace it;
- lock files are opened relative to that directory, without following links and
  without blocking, and must be regular files with one link (a hard link planted at
  the lock path would make us overwrite the file it points to);
- a lock file can still be unlinked by its owner, root or a ``/tmp`` cleaner while it
  is held; a *guard* — an abstract Unix socket named after the directory and the GPU,
  which the kernel frees only when its last descriptor closes — keeps that from
  handing the GPU out twice (Linux; elsewhere the lock file alone decides).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import socket
import stat
import sys
from pathlib import Path

from torchwarden.errors import LeaseError
from torchwarden.runtime.lease_holder import MAX_RECORD_BYTES, Holder, parse_holder

__all__ = [
    "LeaseDir",
    "bind_guard",
    "flock_now",
    "lock_path",
    "probe",
    "read_holder",
    "resolve_lease_dir",
]

LEASE_DIR_VAR = "TORCHWARDEN_LEASE_DIR"
DEFAULT_LEASE_DIR = Path("/tmp/torchwarden-leases")
_OPEN = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_SETUP = "see 'Sharing a machine' in docs/gpus.md"


def resolve_lease_dir(lease_dir: Path | None = None) -> Path:
    """``lease_dir``, else ``$TORCHWARDEN_LEASE_DIR``, else ``/tmp/torchwarden-leases``."""
    if lease_dir is not None:
        return Path(lease_dir)
    env = os.environ.get(LEASE_DIR_VAR)
    return Path(env) if env else DEFAULT_LEASE_DIR


def lock_path(lease_dir: Path, index: int) -> Path:
    return lease_dir / lock_name(index)


def lock_name(index: int) -> str:
    return f"gpu-{index}.lock"


class LeaseDir:
    """An open, checked lease directory; lock files are opened relative to it."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        if create:
            _make_dir(path)
        self.fd = _open_dir(path)
        st = os.fstat(self.fd)
        self.shared = bool(st.st_mode & 0o022)
        # the guard name follows the path, so a directory deleted and made again shares it
        self.guard_key = hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:32]

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> LeaseDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open_lock(self, index: int) -> int:
        """A read-write descriptor on GPU ``index``'s lock file, created when missing."""
        name = lock_name(index)
        while True:
            try:
                fd = os.open(name, os.O_RDWR | _OPEN, dir_fd=self.fd)
            except FileNotFoundError:
                fd = self._create(name)
                if fd < 0:
                    continue  # someone created it between our two opens; open theirs
            except OSError as e:
                raise self._lock_error(name, e) from None
            self.check_lock_file(fd, name)
            return fd

    def _create(self, name: str) -> int:
        # Opening an existing file with O_CREAT in a sticky directory is refused when another
        # user owns it and fs.protected_regular is set, hence open first, create only if missing.
        try:
            fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | _OPEN, 0o644, dir_fd=self.fd)
        except FileExistsError:
            return -1
        except OSError as e:
            raise self._lock_error(name, e) from None
        if self.shared:
            os.fchmod(fd, 0o666)  # every user of a shared directory must be able to lock it
        return fd

    def check_lock_file(self, fd: int, name: str) -> None:
        st = os.fstat(fd)
        problem = None
        if not stat.S_ISREG(st.st_mode):
            problem = "is not a regular file"
        elif st.st_nlink != 1:
            problem = f"has {st.st_nlink} hard links, so writing to it would change another file"
        if problem:
            os.close(fd)
            raise LeaseError(
                f"The lease file {self.path / name} {problem}; someone put it there. "
                f"Remove it (rm {self.path / name}) or set {LEASE_DIR_VAR} to a safe directory "
                f"({_SETUP})."
            )

    def still_linked(self, fd: int, index: int) -> bool:
        """Whether the file locked through ``fd`` is still the one at the lock path."""
        try:
            at_path = os.stat(lock_name(index), dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (mine.st_dev, mine.st_ino) == (at_path.st_dev, at_path.st_ino)

    def _lock_error(self, name: str, e: OSError) -> LeaseError:
        path = self.path / name
        if e.errno == errno.ELOOP:
            return LeaseError(
                f"The lease file {path} is a symbolic link; following it could overwrite another "
                f"file. Remove it (rm {path}) or set {LEASE_DIR_VAR} to a safe directory ({_SETUP})."
            )
        if isinstance(e, PermissionError):
            return LeaseError(
                f"Cannot open the lease file {path} for writing: {e.strerror}. Ask its owner or "
                f"an administrator to make it writable by every GPU user ({_SETUP}), or set "
                f"{LEASE_DIR_VAR} to a directory you share."
            )
        return LeaseError(f"Cannot open the lease file {path}: {e.strerror}. {_SETUP}.")


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        return  # whoever made it chose its mode; _open_dir checks that it is safe
    except OSError as e:
        raise _dir_error(path, e.strerror or str(e)) from None
    with contextlib.suppress(OSError):
        # world-writable and sticky, like /tmp: others may add lock files, not delete ours
        path.chmod(0o1777)


def _open_dir(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            why = "is a symbolic link or not a directory, so it could lead anywhere"
            raise _dir_error(path, why) from None
        raise _dir_error(path, e.strerror or str(e)) from None
    problem = _dir_problem(os.fstat(fd))
    if problem:
        os.close(fd)
        raise _dir_error(path, problem)
    return fd


def _dir_problem(st: os.stat_result) -> str | None:
    if st.st_uid not in (0, os.geteuid()):
        return (
            f"it belongs to uid {st.st_uid}, who can delete or replace every lock file in it; "
            "it must belong to root or to you"
        )
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        return "others may write to it but it is not sticky (chmod +t), so they could delete lock files"
    return None


def _dir_error(path: Path, why: str) -> LeaseError:
    return LeaseError(
        f"Cannot use the lease directory {path}: {why}. Use a directory made by an "
        f"administrator (sudo install -d -m 1777 -o root -g root {path}) or set "
        f"{LEASE_DIR_VAR} to one; {_SETUP}."
    )


def bind_guard(directory: LeaseDir, index: int) -> socket.socket | None:
    """Bind GPU ``index``'s guard; ``None`` when another process holds it.

    On systems without abstract Unix sockets, a socket that binds nothing is returned:
    the lock file alone decides there.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if not sys.platform.startswith("linux"):
        return sock
    try:
        sock.bind(f"\0torchwarden-lease/{directory.guard_key}/{index}")
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            return None
        raise
    return sock


def read_holder(directory: LeaseDir, index: int) -> Holder | None:
    """The holder record in GPU ``index``'s lock file, or ``None`` when empty or invalid."""
    try:
        fd = os.open(lock_name(index), os.O_RDONLY | _OPEN, dir_fd=directory.fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return parse_holder(os.pread(fd, MAX_RECORD_BYTES + 1, 0))
    except OSError:
        return None
    finally:
        os.close(fd)


def probe(directory: LeaseDir, index: int) -> Holder | None:
    """The current holder of GPU ``index``, or ``None`` when nobody holds it.

    A record left by a killed holder stays in the file, so the lock and the guard, not
    the file's content, decide: a shared lock and the guard we can take mean it is free.
    """
    try:
        fd = os.open(lock_name(index), os.O_RDONLY | _OPEN, dir_fd=directory.fd)
    except OSError:
        fd = -1  # no lock file (or not one we may read): the guard still tells
    try:
        if fd >= 0 and stat.S_ISREG(os.fstat(fd).st_mode) and not flock_now(fd, fcntl.LOCK_SH):
            return read_holder(directory, index) or Holder.unnamed()
        guard = bind_guard(directory, index)
        if guard is None:  # held through a lock file that was deleted or replaced
            return Holder.unnamed()
        guard.close()
        return None
    finally:
        if fd >= 0:
            os.close(fd)


def flock_now(fd: int, mode: int) -> bool:
    """``flock(fd, mode | LOCK_NB)``: whether we got it (``False``: someone holds it)."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return False
    return True
