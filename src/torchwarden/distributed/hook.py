"""The base of every communication hook: bucket layout, byte accounting, state checks.

A DDP bucket is one flat gradient buffer holding several parameters' gradients back to
back. DDP runs the first iteration with one bucket of every parameter in registration
order, then rebuilds the buckets in gradient-ready order. A fresh process that resumes a
run therefore sees a different layout on its first step than the run it continues. State
keyed by bucket index cannot survive that, so every hook here keeps its state per
parameter name and slices it into whatever layout the bucket has.

Shape legend: N elements in a bucket, W world size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from torchwarden.errors import CommHookStateError

if TYPE_CHECKING:
    from torch._C._distributed_c10d import GradBucket
else:
    GradBucket = dist.GradBucket  # type: ignore[attr-defined]

__all__ = ["BucketLayout", "CommHook", "Future", "GradBucket"]

Future = torch.futures.Future


@dataclass(frozen=True)
class BucketLayout:
    """Which parameters a bucket holds, in buffer order, and where each starts."""

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]
    offsets: tuple[int, ...]  # element offset of each parameter in the flat buffer

    @classmethod
    def of(cls, names: tuple[str, ...], shapes: tuple[torch.Size, ...]) -> BucketLayout:
        offsets, at = [], 0
        for shape in shapes:
            offsets.append(at)
            at += shape.numel()
        return cls(names, shapes, tuple(offsets))

    @property
    def numels(self) -> list[int]:
        return [s.numel() for s in self.shapes]

    def split(self, flat: Tensor) -> dict[str, Tensor]:
        """Flat (N,) bucket tensor -> {name: flat view of that parameter's slice}."""
        return dict(zip(self.names, torch.split(flat, self.numels)))

    def join(self, parts: dict[str, Tensor], like: Tensor) -> Tensor:
        """The inverse of :meth:`split`; parameters missing from ``parts`` are zeros."""
        return torch.cat(
            [parts.get(n, like.new_zeros(k)).to(like) for n, k in zip(self.names, self.numels)]
        )


def _run_hook(state: CommHook, bucket: GradBucket) -> Future[Tensor]:
    # DDP checks the parameter names of a hook: they must be `state` and `bucket`.
    return state.communicate(bucket)


# DDP compares these annotations with the real classes; this module's are strings.
_run_hook.__annotations__ = {
    "state": object,
    "bucket": GradBucket,
    "return": torch.futures.Future[torch.Tensor],
}


class CommHook(ABC):
    """A DDP communication hook with its state as a Stateful object.

    ``state_dict()`` holds only tensors, numbers, strings, lists and dicts, so a checkpoint
    of it loads with ``torch.load(weights_only=True)``. The state is per rank (each rank
    keeps its own error-feedback residuals): every rank saves and loads its own.
    """

    name: str = "none"

    def __init__(self, process_group: dist.ProcessGroup | None = None) -> None:
        self.group = process_group
        self.world_size = dist.get_world_size(process_group)
        self.rank = dist.get_rank(process_group)
        self.steps = 0  # iterations communicated (a bucket with is_last() ends one)
        self.bytes_sent = 0  # ring-model bytes this rank sent, over all steps
        self._names: dict[int, str] = {}
        self._numels: dict[str, int] = {}

    def attach(self, ddp_model: nn.parallel.DistributedDataParallel) -> CommHook:
        """Register this hook on ``ddp_model`` (once, before the first backward)."""
        named = list(ddp_model.module.named_parameters())
        self._names = {id(p): n for n, p in named}
        self._numels = {n: p.numel() for n, p in named}
        ddp_model.register_comm_hook(self, _run_hook)
        return self

    def layout(self, bucket: GradBucket) -> BucketLayout:
        params = bucket.parameters()
        names = tuple(self._names[id(p)] for p in params)
        return BucketLayout.of(names, tuple(p.shape for p in params))

    def count(self, nbytes: int, collective: str) -> None:
        """Add one collective's payload to ``bytes_sent``, as the ring algorithm sends it:
        all-reduce sends 2(W-1)/W of the payload per rank, all-gather (W-1) times it."""
        w = self.world_size
        sent = 2 * (w - 1) * nbytes // w if collective == "all_reduce" else (w - 1) * nbytes
        self.bytes_sent += sent

    def end_of(self, bucket: GradBucket) -> None:
        if bucket.is_last():
            self.steps += 1

    @abstractmethod
    def communicate(self, bucket: GradBucket) -> Future[Tensor]:
        """Average ``bucket``'s gradients across ranks; a future of the averaged buffer."""

    def state_dict(self) -> dict[str, Any]:
        return {
            "hook": self.name,
            "rank": self.rank,
            "world_size": self.world_size,
            "steps": self.steps,
            "bytes_sent": self.bytes_sent,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = (state.get("hook"), state.get("rank"), state.get("world_size"))
        if saved != (self.name, self.rank, self.world_size):
            raise CommHookStateError(
                f"this state is of hook {saved[0]!r} on rank {saved[1]} of {saved[2]}, but it is "
                f"being loaded into hook {self.name!r} on rank {self.rank} of {self.world_size}; "
                "register the same hook and load each rank's own state (save one file per rank)."
            )
        self.steps = int(state["steps"])
        self.bytes_sent = int(state["bytes_sent"])

    def numels(self) -> dict[str, int]:
        """Elements of each parameter of the attached model, by name."""
        return dict(self._numels)

    def check_names(self, names: Any, what: str) -> None:
        if not self._numels:
            raise CommHookStateError(
                f"this {self.name!r} hook is not registered on a model yet; call "
                "register(ddp_model, ...) first, then load_state_dict, before the first backward."
            )
        unknown = sorted(set(names) - set(self._names.values()))
        if unknown:
            raise CommHookStateError(
                f"the saved {what} name parameters this model does not have: {unknown[:5]}; "
                "load it into the same model architecture it was saved from."
            )
