"""Exclusive GPU leases: a ``flock``-ed lock file and a guard per GPU, in a shared directory.

A lease on GPU ``i`` is ``flock(LOCK_EX)`` on ``gpu-<i>.lock`` plus its guard (see
``lease_files``). The kernel drops both when the last descriptor on them closes, so a
lease ends with its processes even on SIGKILL; nothing has to clean up after a crash.
The descriptors are passed on to the run's children, and a keeper process (see
``keeper``) holds the lease after the run until the processes it started have
ended, so a GPU is never handed out while something of a killed run still uses it.
The holder writes who it is into the lock file; others are told whom they wait for.
Indices are physical (``nvidia-smi``) indices; see ``Lease.env``. No torch here.
"""

from __future__ import annotations

import contextlib
import enum
import os
import random
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from torchwarden.errors import LeaseError
from torchwarden.runtime.gpu_request import GpuRequest, parse_gpu_request
from torchwarden.runtime.keeper import Keeper
from torchwarden.runtime.lease_files import LeaseDir, probe, resolve_lease_dir
from torchwarden.runtime.lease_holder import Holder
from torchwarden.runtime.lease_take import Held, try_take

__all__ = [
    "GpuRequest",
    "Holder",
    "Lease",
    "LeaseState",
    "acquire",
    "holders",
    "parse_gpu_request",
]

_BACKOFF_START_S, _BACKOFF_MAX_S = 0.1, 2.0

WaitCallback = Callable[[dict[int, Holder | None]], None]


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
        return {**env, **(self._keeper.env() if self._keeper is not None else {})}

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
    end_orphans: bool = False,
) -> Lease:
    """Take exclusive leases for ``request`` among the GPU indices in ``available``.

    Without ``wait``, a GPU held by someone else raises :class:`LeaseError` naming them.
    With ``wait``, poll with backoff (``timeout`` seconds at most; ``None`` waits for ever),
    calling ``on_wait`` with the blocking holders each time they change. Partial takes
    are always released before waiting, so two runs wanting two GPUs each cannot deadlock.
    ``keeper=False`` leaves out the keeper: the lease then ends with this process and
    the children that kept its descriptors. ``end_orphans=True``: if this process dies
    without releasing, the keeper ends the processes it started (``torchwarden run``).
    """
    candidates = _candidates(request, available)
    path = resolve_lease_dir(lease_dir)
    deadline = None if timeout is None else time.monotonic() + timeout
    delay, last_blocking = _BACKOFF_START_S, None
    with LeaseDir(path) as directory:
        while True:
            holder = Holder.of_this_process(command)  # "since" is when the lease was taken
            held, blocking = try_take(candidates, request.count, directory, holder)
            if held is not None:
                return _lease(held, holder, path, keeper, end_orphans)
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


def _lease(
    held: dict[int, Held], holder: Holder, path: Path, keeper: bool, end_orphans: bool
) -> Lease:
    for lock, guard in held.values():
        os.set_inheritable(lock, True)  # children that keep descriptors hold the lease too
        guard.set_inheritable(True)
    lease = Lease(tuple(sorted(held)), holder, path, held)
    if keeper:
        try:
            lease._keeper = Keeper(lease.fds, end_orphans=end_orphans)
        except OSError as e:  # no interpreter to start: the lease still holds for this process
            warnings.warn(
                f"torchwarden: the lease keeper could not start ({e}); GPUs {lease.indices} are "
                "leased only while this process and children that kept its descriptors run.",
                RuntimeWarning,
                stacklevel=3,
            )
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
                if name.startswith("gpu-") and name.endswith(".lock") and name[4:-5].isascii()
                and name[4:-5].isdigit() and len(name) < 16
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
