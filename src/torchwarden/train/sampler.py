"""A sampler whose position is part of the checkpoint, so resume never replays batches.

:class:`ResumableSampler` yields a permutation of a dataset (or its order) split across
ranks, seeded by ``seed`` and the epoch, and counts what it has handed out. Its
``state_dict`` is (epoch, offset): on resume it regenerates the same permutation and
starts at the offset, without touching the data before it. The count is exact when
the ``DataLoader`` does not read ahead (``num_workers=0``); loaders with worker
processes read ahead, so use torchdata's ``StatefulDataLoader`` there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any

import torch
from torch.utils.data import Sampler

from torchwarden.errors import TrainArgumentError

__all__ = ["ResumableSampler"]


class ResumableSampler(Sampler[int]):
    """Indices of ``data`` (a length or a sized dataset) for one rank, resumable mid-epoch."""

    def __init__(
        self,
        data: int | Sized,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        self.size = data if isinstance(data, int) else len(data)
        self.shuffle, self.seed = shuffle, seed
        dist = torch.distributed
        initialised = dist.is_available() and dist.is_initialized()
        self.rank = rank if rank is not None else (dist.get_rank() if initialised else 0)
        self.world_size = world_size or (dist.get_world_size() if initialised else 1)
        if not 0 <= self.rank < self.world_size or self.size < self.world_size:
            raise TrainArgumentError(
                f"rank {self.rank} of {self.world_size} cannot share {self.size} samples: "
                "pass rank in [0, world_size) and a dataset of at least world_size samples"
            )
        self.epoch = 0
        self.offset = 0

    def __len__(self) -> int:
        return self.size // self.world_size  # every rank gets as many; the remainder is dropped

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        return order[self.rank : len(self) * self.world_size : self.world_size]

    def __iter__(self) -> Iterator[int]:
        if self.offset >= len(self):
            self.epoch, self.offset = self.epoch + 1, 0
        indices = self._indices()
        while self.offset < len(indices):
            self.offset += 1
            yield indices[self.offset - 1]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "offset": self.offset, "seed": self.seed, "size": self.size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where the saved sampler stopped (its seed included, so the order matches)."""
        if state.get("size") != self.size:
            raise TrainArgumentError(
                f"the saved sampler was over {state.get('size')} samples, this one over "
                f"{self.size}: resume with the same data"
            )
        self.epoch, self.offset = int(state["epoch"]), int(state["offset"])
        self.seed = int(state["seed"])
