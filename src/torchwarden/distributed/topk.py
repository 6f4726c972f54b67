"""Top-k sparsification with error feedback.

Each rank sends, for every parameter in the bucket, the k = ceil(ratio * numel) entries
of largest magnitude of (gradient + carried error); the rest is carried to the next
step. Selection is per parameter, not per bucket, so the result does not depend on how
DDP groups parameters into buckets (and a small layer is never starved by a large one).

Exchange: ranks pick different indices, so the sparse vectors cannot be all-reduced
elementwise. Every rank sends one fixed-size message, its K values (float32) followed by
their K bucket indices (int32, bit-cast to float32), in a single all-gather; each rank
then adds the W messages into a dense buffer in rank order, so all ranks compute the
same sum bit for bit. Traffic per rank: (W-1) * 8K bytes against 2(W-1)/W * 4N for a
float32 all-reduce — it pays while ratio < 1/W, roughly.

Shape legend: N elements in a bucket, K selected entries (sum of per-parameter k), W ranks.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from torchwarden.distributed.feedback import ErrorFeedbackHook
from torchwarden.distributed.hook import BucketLayout, Future, GradBucket
from torchwarden.errors import CommHookError

__all__ = ["TopKHook"]


class TopKHook(ErrorFeedbackHook):
    """Send the ``ratio`` largest-magnitude entries of each gradient; carry the rest."""

    name = "topk"

    def __init__(self, process_group: Any = None, *, ratio: float = 0.01) -> None:
        if not 0.0 < ratio <= 1.0:
            raise CommHookError(f"topk ratio must be in (0, 1], got {ratio}; 0.01 keeps 1%.")
        super().__init__(process_group)
        self.ratio = ratio

    def select(self, acc: Tensor, layout: BucketLayout) -> Tensor:
        """Bucket indices (K,) of the largest entries of each parameter's slice of ``acc``."""
        picked = []
        for part, offset in zip(torch.split(acc, layout.numels), layout.offsets):
            k = max(1, math.ceil(self.ratio * part.numel()))
            picked.append(part.abs().topk(k, sorted=False).indices + offset)
        return torch.cat(picked)

    def communicate(self, bucket: GradBucket) -> Future[Tensor]:
        layout, buffer = self.layout(bucket), bucket.buffer()
        if buffer.numel() >= 2**31:
            raise CommHookError("topk indexes buckets with int32; use bucket_cap_mb below 8 GiB.")
        acc = self.corrected(buffer, layout)  # (N,) float32
        index = self.select(acc, layout)  # (K,)
        values = acc[index]
        self.carry(acc.index_fill(0, index, 0.0), layout)
        message = torch.cat([values, index.to(torch.int32).view(torch.float32)])  # (2K,)
        received = [torch.empty_like(message) for _ in range(self.world_size)]
        self.count(message.numel() * 4, "all_gather")
        work = dist.all_gather(received, message, group=self.group, async_op=True)
        assert work is not None
        k, world = values.numel(), self.world_size

        def densify(_: Future[Any]) -> Tensor:
            total = torch.zeros_like(acc)
            for msg in received:  # rank order, so every rank sums identically
                total.index_add_(0, msg[k:].view(torch.int32).long(), msg[:k])
            buffer.copy_(total.div_(world))
            return buffer

        self.end_of(bucket)
        future: Future[Tensor] = work.get_future().then(densify)
        return future

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "ratio": self.ratio}
