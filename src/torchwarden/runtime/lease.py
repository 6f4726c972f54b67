"""Exclusive GPU leases: a ``flock``-ed lock file and a guard per GPU, in a shared directory.

A lease on GPU ``i`` is ``flock(LOCK_EX)`` on ``gpu-<i>.lock`` plus its guard (see
``lease_files``). The kernel drops both when the last descriptor on them closes, so a
lease ends with its processes even on SIGKILL; nothing has to clean up after a crash.
The descriptors are passed on to the run's children, and a keeper process (see
``lease_keeper``) holds the lease after the run until the processes it started have
ended, so a GPU is never handed out while something of a killed run still uses it.
The holder writes who it is into the lock file; others are told whom they wait for.
Indices are physical (``nvidia-smi``) indices; see ``Lease.env``. No torch here.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import functools
import os
import random
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from torchwarden.errors import LeaseError
from torchwarden.runtime.gpu_request import GpuRequest, parse_gpu_request
from torchwarden.runtime.lease_files import (
    LeaseDir,
    bind_guard,
    probe,
    read_holder,
    resolve_lease_dir,
)
from torchwarden.runtime.lease_holder import Holder
from torchwarden.runtime.lease_keeper import TOKEN_VAR, Keeper

__all__ = [
    "GpuRequest",
    "Holder",
    "Lease",
    "LeaseState",
    "acquire",
    "holders",
    "parse_gpu_request",
]

# A lock that is held but carries no live holder's record was either just taken (the
# record follows within microseconds; a dead holder's record may linger until then) or
# is being probed by `torchwarden gpus`; look again for this long before calling it held.
_SETTLE_S = 0.5
_BACKOFF_START_S, _BACKOFF_MAX_S = 0.1, 2.0
_REPLACED_TRIES = 20  # a lock file replaced this often while we lock it is an attack

WaitCallback = Callable[[dict[int, Holder | None]], None]
Held = tuple[int, socket.socket]  # the lock file's descriptor and the guard


class LeaseState(enum.Enum):
    HELD = "held"
    RELEASED = "released"


@dataclass
class Lease:
    """Exclusive use of ``indices`` until :meth:`release` and the end of what the run started."""

    indices: tuple[int, ...]
    holder: Holder
    lease_dir: Path
    _held: dict[int, Held] = field(repr=False)
    _keeper: Keeper | None = field(default=None, repr=False)
    state: LeaseState = LeaseState.HELD

    @property
    def cuda_visible_devices(self) -> str:
        return ",".join(str(i) for i in self.indices)

    @property
    def fds(self) -> tuple[int, ...]:
        """The lease's descriptors; children that get them (``pass_fds``) hold the lease too."""
        return tuple(fd for lock, guard in self._held.values() for fd in (lock, guard.fileno()))

    def env(self) -> dict[str, str]:
        """Variables for the run's processes: the leased GPUs, and the keeper's token.

        CUDA numbers devices fastest-first unless told otherwise, but leases use the
        PCI-bus order of ``nvidia-smi`` and NVML; ``CUDA_DEVICE_ORDER`` makes them agree.
        """
        env = {"CUDA_VISIBLE_DEVICES": self.cuda_visible_devices, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
        if self._keeper is not None:
            env[TOKEN_VAR] = self._keeper.token_value()
        return env

    def release(self) -> str:
        """Give the GPUs back; calling it again does nothing.

        Returns the keeper's answer: ``"free"``, or ``"held N"`` when N processes the run
        started still run (the keeper gives the GPUs back when they end).
        """
        if self.state is LeaseState.RELEASED:
            return "free"
        for lock, guard in self._held.values():
            if self._keeper is None:
                with contextlib.suppress(OSError):
                    os.ftruncate(lock, 0)  # so nobody reads a stale holder record
            os.close(lock)  # with the keeper's copy closed too, this drops the flock
            guard.close()
        self._held.clear()
        self.state = LeaseState.RELEASED
        return self._keeper.release() if self._keeper is not None else "free"

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def acquire(
    request: GpuRequest,
    *,
    available: Sequence[int],
    wait: bool = False,
    timeout: float | None = None,
    lease_dir: Path | None = None,
    command: str | None = None,
    on_wait: WaitCallback | None = None,
    keeper: bool = True,
) -> Lease:
    """Take exclusive leases for ``request`` among the GPU indices in ``available``.

    Without ``wait``, a GPU held by someone else raises :class:`LeaseError` naming them.
    With ``wait``, poll with backoff (``timeout`` seconds at most; ``None`` waits for ever),
    calling ``on_wait`` with the blocking holders each time they change. Partial takes
    are always released before waiting, so two runs wanting two GPUs each cannot deadlock.
    ``keeper=False`` leaves out the keeper: the lease then ends with this process and
    the children that kept its descriptors.
    """
    candidates = _candidates(request, available)
    path = resolve_lease_dir(lease_dir)
    deadline = None if timeout is None else time.monotonic() + timeout
    delay, last_blocking = _BACKOFF_START_S, None
    with LeaseDir(path) as directory:
        while True:
            holder = Holder.of_this_process(command)  # "since" is when the lease was taken
            held, blocking = _try_take(candidates, request.count, directory, holder)
            if held is not None:
                return _lease(held, holder, path, keeper)
            if not wait:
                raise _busy_error(request, candidates, blocking, waited=None)
            if deadline is not None and time.monotonic() >= deadline:
                raise _busy_error(request, candidates, blocking, waited=timeout)
            if on_wait is not None and blocking != last_blocking:
                on_wait(blocking)
            last_blocking = blocking
            # jitter keeps two waiters from retrying in lockstep forever
            pause = delay * random.uniform(0.5, 1.0)
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            time.sleep(pause)
            delay = min(delay * 1.5, _BACKOFF_MAX_S)


def _lease(held: dict[int, Held], holder: Holder, path: Path, keeper: bool) -> Lease:
    for lock, guard in held.values():
        os.set_inheritable(lock, True)  # children that keep descriptors hold the lease too
        guard.set_inheritable(True)
    lease = Lease(tuple(sorted(held)), holder, path, held)
    if keeper:
        lease._keeper = Keeper(lease.fds)
    return lease


def holders(
    lease_dir: Path | None = None, indices: Iterable[int] | None = None
) -> dict[int, Holder | None]:
    """Who holds each GPU's lease (``None``: free). ``indices=None`` lists every lock file."""
    path = resolve_lease_dir(lease_dir)
    if not path.exists() and not path.is_symlink():
        return dict.fromkeys(indices or [])
    with LeaseDir(path, create=False) as directory:
        if indices is None:
            indices = sorted(
                int(name[4:-5])
                for name in os.listdir(directory.fd)
                if name.startswith("gpu-") and name.endswith(".lock") and name[4:-5].isdigit()
                and len(name) < 16
            )  # fmt: skip
        return {i: probe(directory, i) for i in indices}


def _candidates(request: GpuRequest, available: Sequence[int]) -> list[int]:
    visible = sorted(set(available))
    shown = ",".join(map(str, visible)) or "none"
    if request.indices is not None:
        missing = [i for i in request.indices if i not in visible]
        if missing:
            raise LeaseError(
                f"GPU {missing[0]} does not exist here (GPUs: {shown}); "
                "choose among them with --gpus, or check CUDA_VISIBLE_DEVICES."
            )
        return list(request.indices)
    if request.count > len(visible):
        raise LeaseError(
            f"Asked for {request.count} GPUs but only {len(visible)} are available ({shown}); "
            f"pass --gpus {len(visible)} or fewer, or check CUDA_VISIBLE_DEVICES."
        )
    return visible


def _try_take(
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
        if not _settled(functools.partial(_flock_now, fd), directory, index):
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


def _flock_now(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return False
    return True


def _bind_now(directory: LeaseDir, index: int, out: list[socket.socket]) -> bool:
    guard = bind_guard(directory, index)
    if guard is not None:
        out.append(guard)
    return guard is not None


def _settled(attempt: Callable[[], bool], directory: LeaseDir, index: int) -> bool:
    """``attempt()``, tried again while the holder is unnamed or gone (see _SETTLE_S)."""
    settle_until = time.monotonic() + _SETTLE_S
    while not attempt():
        holder = read_holder(directory, index)
        if (holder is not None and holder.may_be_alive()) or time.monotonic() >= settle_until:
            return False
        time.sleep(0.02)
    return True


def _busy_error(
    request: GpuRequest,
    candidates: list[int],
    blocking: dict[int, Holder | None],
    waited: float | None,
) -> LeaseError:
    named = "; ".join(
        f"GPU {i} is leased by {h.describe() if h else 'an unnamed process'}"
        for i, h in blocking.items()
    )
    if waited is not None:
        head = f"Waited {waited:g} s for a lease and gave up: {named}."
        fix = "Wait longer with --wait-timeout, or choose other GPUs with --gpus."
    elif request.indices is None:
        free = len(candidates) - len(blocking)
        head = f"Asked for {request.count} GPUs but {free} of {len(candidates)} are free: {named}."
        fix = "Pass --wait to queue, or ask for fewer with --gpus."
    else:
        head = f"{named}."
        fix = "Pass --wait to queue for it, or choose another GPU with --gpus."
    records = [{"index": i, **(h.to_dict() if h else {})} for i, h in blocking.items()]
    return LeaseError(f"{head} {fix}", holders=records)
