"""Taking a lease: one non-blocking pass over lock files and guards, all or nothing.

Separate from ``lease.py`` (waiting, naming holders, the ``Lease`` object) because the
order of checks here is what makes a lease safe against a hostile directory: open
without following links, lock, check the locked file is still the one at the path,
then bind the guard that survives the file being deleted.
"""

from __future__ import annotations

import fcntl
import functools
import os
import socket
import time
from collections.abc import Callable

from torchwarden.errors import LeaseError
from torchwarden.runtime.lease_files import LeaseDir, bind_guard, flock_now, read_holder
from torchwarden.runtime.lease_holder import Holder

__all__ = ["Held", "try_take"]

# A lock that is held but carries no live holder's record was either just taken (the
# record follows within microseconds; a dead holder's record may linger until then) or
# is being probed by `torchwarden gpus`; look again for this long before calling it held.
_SETTLE_S = 0.5
_REPLACED_TRIES = 20  # a lock file replaced this often while we lock it is an attack

Held = tuple[int, socket.socket]  # the lock file's descriptor and the guard


def try_take(
    candidates: list[int], count: int, directory: LeaseDir, holder: Holder
) -> tuple[dict[int, Held] | None, dict[int, Holder | None]]:
    """One non-blocking pass in ascending order: all ``count`` GPUs, or none kept."""
    taken: dict[int, Held] = {}
    blocking: dict[int, Holder | None] = {}
    try:
        for index in candidates:
            held = _take_one(directory, index)
            if held is None:
                blocking[index] = read_holder(directory, index) or Holder.unnamed()
                continue
            taken[index] = held
            holder.write_to(held[0])
            if len(taken) == count:
                return dict(taken), {}
    finally:
        if len(taken) < count:  # not all of them, or an error: keep none
            for lock, guard in taken.values():
                os.ftruncate(lock, 0)
                os.close(lock)
                guard.close()
    return None, blocking


def _take_one(directory: LeaseDir, index: int) -> Held | None:
    """Lock GPU ``index``'s file (checking it is still the one at the path) and bind its guard."""
    for _ in range(_REPLACED_TRIES):
        fd = directory.open_lock(index)
        if not _settled(functools.partial(flock_now, fd, fcntl.LOCK_EX), directory, index):
            os.close(fd)
            return None
        if not directory.still_linked(fd, index):  # replaced between our open and our lock
            os.close(fd)
            continue
        guards: list[socket.socket] = []
        if not _settled(functools.partial(_bind_now, directory, index, guards), directory, index):
            os.close(fd)  # the lock file was deleted while its holder held it
            return None
        return fd, guards[0]
    raise LeaseError(
        f"The lease file for GPU {index} in {directory.path} was replaced {_REPLACED_TRIES} "
        "times while we locked it; someone is tampering with the lease directory. "
        "Use an administrator's directory: see 'Sharing a machine' in docs/gpus.md."
    )


def _bind_now(directory: LeaseDir, index: int, out: list[socket.socket]) -> bool:
    guard = bind_guard(directory, index)
    if guard is not None:
        out.append(guard)
    return guard is not None


def _settled(attempt: Callable[[], bool], directory: LeaseDir, index: int) -> bool:
    """``attempt()``, tried again while the holder is unnamed or gone (see _SETTLE_S).

    The record is only trusted to shorten this wait: whatever it says, the GPU counts
    as taken while the lock or the guard is held.
    """
    settle_until = time.monotonic() + _SETTLE_S
    while not attempt():
        holder = read_holder(directory, index)
        if (holder is not None and holder.may_be_alive()) or time.monotonic() >= settle_until:
            return False
        time.sleep(0.02)
    return True
