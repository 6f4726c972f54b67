"""How a run enters the machine: its directory and its row in the run index, around its lease.

A run that must wait for GPUs others hold is in the queue from the first moment it
waits: it gets its directory (made exclusively, as every run's) and a row ``waiting``
with the GPUs it asked for, so ``serve`` lists it. When the lease comes the row turns
``running`` on the GPUs leased. One that stops waiting (``--wait-timeout``) ends
``gave-up`` and its directory, still empty, is removed. A run that gets its GPUs at
once, or asks for none, is made and registered ``running`` after the lease, so a
refused option or a busy GPU without ``--wait`` leaves no directory and no row.

The index is a convenience: a run that cannot register goes on, with a warning.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from torchwarden.errors import LeaseError, RunIndexError
from torchwarden.runtime.gpus import available_gpus
from torchwarden.runtime.index import RunHandle, RunInfo, register
from torchwarden.runtime.lease import Holder, Lease, acquire, parse_gpu_request
from torchwarden.runtime.rundir import make_run_dir
from torchwarden.runtime.signals import Terminated, run_signals

if TYPE_CHECKING:
    from torchwarden.runtime.finish import RunOutcome

__all__ = ["Admission"]


class Admission:
    """One run's way in: :meth:`queue` while it waits, :meth:`admit` with its lease."""

    def __init__(
        self, name: str, command: str, out: Path | None, warn: Callable[[str], None]
    ) -> None:
        self.name, self.command, self.out = name, command, out
        self.warn = warn  # how the run tells its user (waiting for whom, not in the index)
        self.out_dir: Path | None = None
        self.row: RunHandle | None = None

    def lease(self, gpus: str, *, wait: bool, timeout: float | None) -> Lease:
        """Take the GPUs ``gpus`` (``--gpus``) asks for; while others hold them (``wait``),
        the run is queued. Ctrl-C or SIGTERM while queued stops the wait, as it would
        stop the run: the row ends ``interrupted`` and the signal is raised on."""
        request = parse_gpu_request(gpus)
        available = available_gpus()
        if not available:
            raise LeaseError(
                f"--gpus {gpus}: no CUDA GPU is visible on this machine "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}). "
                "Run without --gpus, or check `torchwarden gpus`."
            )

        signals = run_signals()

        def waiting(holders: dict[int, Holder | None]) -> None:
            signals.defer()  # queued whole or not at all: a directory made is one recorded
            try:
                self.queue(request.spec)
            finally:
                signals.arm()
            busy = ", ".join(f"GPU {i}: {h.describe()}" for i, h in holders.items() if h)
            self.warn(f"waiting for {busy}")

        try:
            signals.arm()  # a signal noted during start-up is raised here
            return acquire(
                request, available=available, wait=wait, timeout=timeout,
                command=self.command, on_wait=waiting, end_orphans=True,
            )  # fmt: skip
        except (KeyboardInterrupt, Terminated) as e:
            signum = getattr(e, "signum", signal.SIGINT)
            self.warn(
                f"{signal.Signals(signum).name} while waiting for --gpus {gpus}: nothing ran."
            )
            self.give_up("interrupted", 128 + signum)
            raise
        finally:
            signals.defer()

    def queue(self, asked: str) -> None:
        """The run must wait for the GPUs ``asked`` (``"2"``, ``"0,2"``): list it as waiting."""
        if self.out_dir is None:
            self.out_dir = make_run_dir(self.out, self.name)
            self.row = self._register("waiting", (), asked)

    def admit(self, gpus: Sequence[int]) -> tuple[Path, RunHandle | None]:
        """The run may start, on ``gpus``: its directory, and its row (``None``: not indexed)."""
        if self.out_dir is None:
            self.out_dir = make_run_dir(self.out, self.name)
            self.row = self._register("running", tuple(gpus), None)
        elif self.row is not None:
            self._index(lambda row: row.start(gpus))
        return self.out_dir, self.row

    def give_up(self, status: str, exit_code: int | None) -> None:
        """The run stopped waiting (``gave-up``, ``interrupted``): its row ends so; its
        empty directory goes."""
        if self.row is not None:
            self._index(lambda row: row.finish(status, exit_code))
        if self.out_dir is not None:
            with contextlib.suppress(OSError):  # not empty (someone wrote there): keep it
                self.out_dir.rmdir()

    def end(self, outcome: RunOutcome | None) -> None:
        """Record how the run ended (``None``: it ended before an outcome, as failed)."""
        if self.row is None:
            return  # a SIGKILLed run's row shows as `lost`: its pid is gone
        if outcome is None:
            self._index(lambda row: row.finish("failed", None))
        else:
            status = outcome.status if outcome.status != "running" else "failed"
            self._index(lambda row: row.finish(status, outcome.exit_code))

    def _register(self, status: str, gpus: tuple[int, ...], asked: str | None) -> RunHandle | None:
        assert self.out_dir is not None
        out_dir = self.out_dir.resolve()
        run = RunInfo(self.name, self.command, out_dir, gpus, status=status, asked=asked)
        try:
            return register(run)
        except RunIndexError as e:
            self.warn(f"not in the run index: {e}")
            return None

    def _index(self, change: Callable[[RunHandle], None]) -> None:
        assert self.row is not None
        try:
            change(self.row)
        except RunIndexError as e:
            self.warn(f"run index not updated: {e}")
