"""Host snapshots for asynchronous saves: the only part of a save the training loop waits for.

A :class:`HostArena` is one reusable block of host memory (page-locked when the state
lives on a GPU) laid out exactly as the ``.bin`` file will be, so the background writer
sends it to disk in one sequential stream. Device tensors are copied with
``non_blocking=True`` into the pinned block and the copies are awaited once, together;
host tensors are copied too, because the loop may change them while the writer runs.
The block is kept between saves and grown only when the state grows.
"""

from __future__ import annotations

from typing import Any

import torch

from torchwarden.train.sharded import ShardStager
from torchwarden.train.tensorfile import Layout

__all__ = ["HostArena"]


class HostArena:
    """A reusable host buffer that snapshots a list of tensors at their file offsets."""

    def __init__(self, pin: bool | None = None) -> None:
        self._pin = pin
        self._buffer: torch.Tensor | None = None
        self._shards = ShardStager()

    def stage_shards(self, state: dict[str, Any]) -> dict[str, Any]:
        """A host copy of sharded (DTensor) state, made by DCP's stager (buffers reused)."""
        return self._shards.stage(state)

    @property
    def nbytes(self) -> int:
        return 0 if self._buffer is None else self._buffer.numel()

    def stage(self, tensors: list[torch.Tensor], layout: Layout) -> torch.Tensor:
        """Copy ``tensors`` into the arena at ``layout``'s offsets; the arena's filled bytes."""
        devices = {t.device for t in tensors if t.device.type == "cuda"}
        buffer = self._reserve(
            layout.total, pin=self._pin if self._pin is not None else bool(devices)
        )
        for t, offset, n in zip(tensors, layout.offsets, layout.nbytes):
            if n == 0:
                continue
            dest = buffer[offset : offset + n].view(t.dtype).view(t.shape)
            dest.copy_(t.detach(), non_blocking=t.device.type == "cuda")
        for device in devices:
            torch.cuda.synchronize(device)  # the snapshot is complete when every copy landed
        return buffer[: layout.total]

    def _reserve(self, nbytes: int, *, pin: bool) -> torch.Tensor:
        have = self._buffer
        if have is None or have.numel() < nbytes or have.is_pinned() != pin:
            self._buffer = None  # free the old block before taking a larger one
            self._buffer = torch.empty(max(nbytes, 1), dtype=torch.uint8, pin_memory=pin)
        assert self._buffer is not None
        return self._buffer
