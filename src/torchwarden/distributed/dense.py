"""Hooks that send every element: torch's all-reduce, bf16 and fp16 hooks, counted.

They keep no state beyond the step and byte counters, so they resume exactly by
construction; they are here so that ``register`` serves every hook with one interface
and one byte accounting.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

from torchwarden.distributed.hook import CommHook, Future, GradBucket
from torchwarden.errors import CommHookError

__all__ = ["AllReduceHook", "HalfPrecisionHook"]


class AllReduceHook(CommHook):
    """DDP's default averaging all-reduce, in the gradients' own dtype."""

    name = "allreduce"

    def communicate(self, bucket: GradBucket) -> Future[Tensor]:
        buffer = bucket.buffer()
        self.count(buffer.numel() * buffer.element_size(), "all_reduce")
        self.end_of(bucket)
        return default_hooks.allreduce_hook(self.group, bucket)  # type: ignore[arg-type]


_HALF = {
    "bf16": (torch.bfloat16, default_hooks.bf16_compress_hook),
    "fp16": (torch.float16, default_hooks.fp16_compress_hook),
}


class HalfPrecisionHook(CommHook):
    """Cast to bf16 or fp16, all-reduce, cast back: half the bytes, no error feedback."""

    def __init__(self, process_group: Any = None, *, dtype: str = "bf16") -> None:
        if dtype not in _HALF:
            raise CommHookError(f"dtype must be 'bf16' or 'fp16', got {dtype!r}.")
        super().__init__(process_group)
        self.name = dtype
        self._hook = _HALF[dtype][1]

    def communicate(self, bucket: GradBucket) -> Future[Tensor]:
        self.count(bucket.buffer().numel() * 2, "all_reduce")
        self.end_of(bucket)
        return self._hook(self.group, bucket)  # type: ignore[arg-type]
