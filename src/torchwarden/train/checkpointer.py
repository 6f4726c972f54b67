"""The user's handle: ``Checkpointer(dir).resume(model=..., ...)``, then ``save`` each N steps.

It owns the lifecycle of one checkpoint directory for one run: which objects are
saved (bound by :meth:`Checkpointer.resume`), the retention policy, the host arena
reused by asynchronous saves, and the single background save allowed in flight.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchwarden.errors import CheckpointError, NoCheckpointError, TrainArgumentError
from torchwarden.findings import CheckpointFinding
from torchwarden.train import commit, loading, saving
from torchwarden.train.distributed import Coordinator
from torchwarden.train.loading import Resumed
from torchwarden.train.sharded import is_sharded
from torchwarden.train.snapshot import HostArena
from torchwarden.train.state import TrainState

__all__ = ["CheckpointConfig", "Checkpointer", "Resumed"]

log = logging.getLogger("torchwarden.train")


@dataclass(frozen=True)
class CheckpointConfig:
    """How many checkpoints to keep and how snapshots are taken.

    ``keep``: the newest N committed checkpoints are kept. ``keep_every``: also keep
    every checkpoint whose step is a multiple of it (0: none). ``pin_memory``: pin the
    host snapshot arena (None: when the state is on a GPU). ``verify``: check sizes and
    SHA-256 of every file before resuming from a checkpoint.
    """

    keep: int = 3
    keep_every: int = 0
    pin_memory: bool | None = None
    verify: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.keep, int) or self.keep < 1:
            raise TrainArgumentError(f"keep must be an integer >= 1 (got {self.keep!r})")
        if not isinstance(self.keep_every, int) or self.keep_every < 0:
            raise TrainArgumentError(
                f"keep_every must be an integer >= 0 (got {self.keep_every!r})"
            )

    def expired(self, found: list[tuple[int, Path]]) -> list[Path]:
        """Which of ``found`` (oldest first) the policy lets go."""
        newest = {step for step, _ in found[-self.keep :]}
        return [
            path
            for step, path in found
            if step not in newest and not (self.keep_every and step % self.keep_every == 0)
        ]


class Checkpointer:
    """Atomic, verified checkpoints of a training run in ``directory``.

    ``start = ckpt.resume(model=m, optimizer=o, ...)`` binds the objects and restores
    the newest checkpoint that verifies (0 when there is none); ``ckpt.save(step)`` or
    ``ckpt.save_async(step)`` then saves them, ``step`` counting completed steps. Under
    ``torch.distributed`` every rank calls the same methods in the same order.
    """

    def __init__(self, directory: str | Path, config: CheckpointConfig | None = None, **kw: Any):
        self.directory = Path(directory)
        self.config = config or CheckpointConfig(**kw)
        self.resumed = Resumed()
        self._state: TrainState | None = None
        self._coord: Coordinator | None = None
        self._sharded = False
        self._arena = HostArena(pin=self.config.pin_memory)
        self._hashers = ThreadPoolExecutor(2, thread_name_prefix="torchwarden-ckpt-hash")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="torchwarden-ckpt-write")
        self._pending: Future[Path] | None = None
        self._closed = False

    @property
    def findings(self) -> tuple[CheckpointFinding, ...]:
        """Checkpoints skipped by the last resume, and why."""
        return self.resumed.findings

    def resume(self, *, required: bool = False, **objects: Any) -> int:
        """Bind ``objects`` (model, optimizer, scheduler, scaler, loader, comm_hook, extras,
        rank_extras) and load the newest checkpoint that verifies; the step to start from."""
        self._check_open()
        self._state = TrainState(**objects)
        self._coord = self._coord or Coordinator()
        self._sharded = is_sharded(self._state.model)
        if self._coord.leader:
            self.directory.mkdir(parents=True, exist_ok=True)
            commit.remove_stale_temps(self.directory)
        self.resumed = loading.resume(self.directory, self._state, self._coord, self._options())
        for finding in self.resumed.findings:
            log.warning("%s", finding)
        if required and self.resumed.path is None:
            raise NoCheckpointError(
                f"no checkpoint in {self.directory} verifies; start without required=True to train from scratch"
            )
        _tell_run(self.resumed.step)
        return self.resumed.step

    def _options(self) -> loading.Options:
        return loading.Options(verify=self.config.verify, sharded=self._sharded)

    def save(
        self, step: int, *, epoch: int | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Path:
        """Save now and return the committed checkpoint's path (waits for a save in flight)."""
        snap = self._snapshot(step, epoch, metadata, copy=False)
        return self._write(snap)

    def save_async(
        self, step: int, *, epoch: int | None = None, metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Snapshot to host memory now; write and commit in the background.

        At most one save is in flight: this first waits for the previous one and raises
        its error, if it failed. :meth:`wait` returns when this one is committed.
        """
        snap = self._snapshot(step, epoch, metadata, copy=True)
        self._pending = self._writer.submit(self._write, snap)

    def wait(self) -> Path | None:
        """Wait for the save in flight; its checkpoint path (None if none was in flight)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        return pending.result()

    def close(self) -> None:
        """Finish the save in flight and release the threads; the object cannot save again."""
        if self._closed:
            return
        try:
            self.wait()
        finally:
            self._closed = True
            self._writer.shutdown()
            self._hashers.shutdown()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise CheckpointError("this Checkpointer is closed; make a new one to save again")

    def _snapshot(
        self,
        step: int,
        epoch: int | None,
        metadata: Mapping[str, Any] | None,
        *,
        copy: bool,
    ) -> saving.Snapshot:
        self._check_open()
        if self._state is None or self._coord is None:
            raise CheckpointError(
                "call resume(model=..., optimizer=..., ...) before save: it binds what to save"
            )
        _check_save_arguments(step, metadata)
        self.wait()  # one save in flight at most; it also frees the arena
        return saving.snapshot(
            self._state,
            self._coord,
            step,
            arena=self._arena,
            copy=copy,
            sharded=self._sharded,
            epoch=epoch,
            metadata=metadata,
        )

    def _write(self, snap: saving.Snapshot) -> Path:
        assert self._coord is not None
        return saving.write(self.directory, snap, self._coord, self._hashers, self.config.expired)


def _check_save_arguments(step: object, metadata: Mapping[str, Any] | None) -> None:
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise TrainArgumentError(f"step must be an integer >= 0 (got {step!r})")
    try:
        json.dumps(dict(metadata or {}))
    except (TypeError, ValueError) as exc:
        raise TrainArgumentError(f"metadata must be JSON-serialisable: {exc}") from None


def _tell_run(step: int) -> None:
    """Under ``torchwarden run``, the run's record notes the step this attempt resumed from."""
    live = sys.modules.get("torchwarden.runtime.live")
    if live is not None:
        live.note_resumed(step)
