"""How the ranks of a job agree on one checkpoint: a private gloo group and three collectives.

Saves may run in a background thread while the loop runs its own collectives, so the
checkpoint's coordination uses its own process group (gloo, which every build has and
which moves only small Python objects here): the loop's group never sees it and the
two never interleave. Without ``torch.distributed`` initialised everything is local.
"""

from __future__ import annotations

from typing import Any

import torch.distributed as dist

__all__ = ["Coordinator"]


class Coordinator:
    """Rank, world size and the checkpoint's own group; created by every rank together."""

    def __init__(self) -> None:
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1
        self.group: Any = None
        if self.distributed and self.world_size > 1:
            self.group = dist.new_group(backend="gloo")

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value``, on every rank."""
        if self.group is None:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` in rank order, on rank 0 (an empty list elsewhere)."""
        if self.group is None:
            return [value]
        out: list[Any] | None = [None] * self.world_size if self.leader else None
        dist.gather_object(value, out, dst=0, group=self.group)
        return out or []

    def barrier(self) -> None:
        if self.group is not None:
            dist.barrier(group=self.group)
