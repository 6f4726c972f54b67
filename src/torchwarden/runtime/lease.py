"""Exclusive GPU leases: one ``flock``-ed lock file per GPU index in a shared directory.

A lease is an open file descriptor holding ``flock(LOCK_EX)`` on ``gpu-<index>.lock``.
The kernel drops the lock when the descriptor closes, so a lease ends with its process
even on SIGKILL; nothing has to clean up after a crashed run. The holder writes who it
is (user, pid, host, command, since) into the file so that others can be told whom
they are waiting for. Indices are physical (``nvidia-smi``) indices; see ``Lease.env``.

The directory is shared by every user of the machine: world-writable with the sticky
bit (like ``/tmp``), lock files mode 0o666. No torch here: leases are plain numbers.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from torchwarden.errors import LeaseError
from torchwarden.runtime.lease_files import (
    Holder,
    lock_path,
    open_lock_file,
    probe,
    read_holder,
    resolve_lease_dir,
)

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

WaitCallback = Callable[[dict[int, Holder | None]], None]


@dataclass(frozen=True)
class GpuRequest:
    """What ``--gpus`` asked for: ``count`` GPUs, either any free ones or exactly ``indices``."""

    count: int
    indices: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.count < 1:
            raise LeaseError(f"GpuRequest(count={self.count}): ask for at least one GPU.")
        if self.indices is not None and len(self.indices) != self.count:
            raise LeaseError(f"GpuRequest: count={self.count} but indices={self.indices}.")


def parse_gpu_request(spec: str) -> GpuRequest:
    """Parse ``--gpus``: ``"2"`` is any two free GPUs; ``"0,2"`` (or ``"3,"``) exactly those.

    A lone number is a count, as in ``torchrun --nproc-per-node``; a trailing comma
    makes it an index (the convention PyTorch Lightning's ``devices="3,"`` uses).
    """
    text = spec.strip()
    usage = "pass a count (--gpus 2) or comma-separated indices (--gpus 0,2; --gpus 3, for GPU 3)."
    if not text:
        raise LeaseError(f"gpus={spec!r}: empty; {usage}")
    if "," not in text:
        count = _non_negative(text, spec, usage, what="a GPU count")
        if count == 0:
            raise LeaseError(
                f"gpus={spec!r}: asks for no GPU; leave --gpus out to run without a lease."
            )
        return GpuRequest(count=count)
    parts = [p.strip() for p in text.split(",")]
    if parts[-1] == "":
        parts.pop()  # the trailing comma of "3,"
    indices = [_non_negative(p, spec, usage, what="a GPU index") for p in parts]
    dupes = sorted({i for i in indices if indices.count(i) > 1})
    if dupes:
        raise LeaseError(f"gpus={spec!r}: GPU {dupes[0]} is listed twice; list each index once.")
    return GpuRequest(count=len(indices), indices=tuple(sorted(indices)))


def _non_negative(part: str, spec: str, usage: str, *, what: str) -> int:
    if not part.isdigit():
        raise LeaseError(f"gpus={spec!r}: {part!r} is not {what}; {usage}")
    return int(part)


class LeaseState(enum.Enum):
    HELD = "held"
    RELEASED = "released"


@dataclass
class Lease:
    """Exclusive use of ``indices`` until :meth:`release` (or the process ends)."""

    indices: tuple[int, ...]
    holder: Holder
    lease_dir: Path
    _fds: dict[int, int] = field(repr=False)
    state: LeaseState = LeaseState.HELD

    @property
    def cuda_visible_devices(self) -> str:
        return ",".join(str(i) for i in self.indices)

    @property
    def fds(self) -> tuple[int, ...]:
        """Lock descriptors; pass them to ``Popen(pass_fds=...)`` so children hold the lease too."""
        return tuple(self._fds.values())

    def env(self) -> dict[str, str]:
        """Variables that confine a child process to the leased GPUs.

        CUDA numbers devices fastest-first unless told otherwise, but leases use the
        PCI-bus order of ``nvidia-smi`` and NVML; ``CUDA_DEVICE_ORDER`` makes them agree.
        """
        return {
            "CUDA_VISIBLE_DEVICES": self.cuda_visible_devices,
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        }

    def release(self) -> None:
        """Give the GPUs back. Calling it again does nothing."""
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # so nobody reads a stale holder record
            os.close(fd)  # closing drops the flock
        self._fds.clear()
        self.state = LeaseState.RELEASED

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
) -> Lease:
    """Take exclusive leases for ``request`` among the GPU indices in ``available``.

    Without ``wait``, a GPU held by someone else raises :class:`LeaseError` naming them.
    With ``wait``, poll with backoff (``timeout`` seconds at most; ``None`` waits for ever),
    calling ``on_wait`` with the blocking holders each time they change. Partial takes
    are always released before waiting, so two runs wanting two GPUs each cannot deadlock.
    """
    candidates = _candidates(request, available)
    directory = resolve_lease_dir(lease_dir)
    deadline = None if timeout is None else time.monotonic() + timeout
    delay, last_blocking = _BACKOFF_START_S, None
    while True:
        holder = Holder.of_this_process(command)  # "since" is when the lease was taken
        fds, blocking = _try_take(candidates, request.count, directory, holder)
        if fds is not None:
            return Lease(tuple(sorted(fds)), holder, directory, fds)
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


def holders(
    lease_dir: Path | None = None, indices: Iterable[int] | None = None
) -> dict[int, Holder | None]:
    """Who holds each GPU's lease (``None``: free). ``indices=None`` lists every lock file."""
    directory = resolve_lease_dir(lease_dir)
    if indices is None:
        indices = sorted(
            int(p.stem.removeprefix("gpu-"))
            for p in directory.glob("gpu-*.lock")
            if p.stem.removeprefix("gpu-").isdigit()
        )
    return {i: probe(lock_path(directory, i)) for i in indices}


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
    candidates: list[int], count: int, directory: Path, holder: Holder
) -> tuple[dict[int, int] | None, dict[int, Holder | None]]:
    """One non-blocking pass in ascending order: all ``count`` locks, or none kept."""
    taken: dict[int, int] = {}
    blocking: dict[int, Holder | None] = {}
    try:
        for index in candidates:
            path = lock_path(directory, index)
            fd = open_lock_file(path)
            if not _lock_now(fd, path):
                blocking[index] = read_holder(path)
                os.close(fd)
                continue
            taken[index] = fd
            holder.write_to(fd)
            if len(taken) == count:
                return dict(taken), {}
    finally:
        if len(taken) < count:  # not all of them, or an error: keep none
            for fd in taken.values():
                os.ftruncate(fd, 0)
                os.close(fd)
    return None, blocking


def _lock_now(fd: int, path: Path) -> bool:
    """``flock(LOCK_EX|LOCK_NB)``, looking again while the holder is unnamed (see _SETTLE_S)."""
    settle_until = time.monotonic() + _SETTLE_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        holder = read_holder(path)
        if (holder is not None and holder.may_be_alive()) or time.monotonic() >= settle_until:
            return False
        time.sleep(0.02)


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
