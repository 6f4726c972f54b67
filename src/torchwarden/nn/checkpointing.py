"""Activation checkpointing for a sequence of blocks, by segments or by a memory budget.

Each checkpointed segment runs under ``torch.utils.checkpoint.checkpoint`` with
``use_reentrant=False`` (the reentrant variant ignores inputs that do not require grad,
breaks with ``torch.autograd.grad`` and detaches keyword arguments) and
``preserve_rng_state=True``: the recomputation replays the RNG state of the original
forward, so dropout draws the same masks and the gradients equal the plain model's —
bitwise on CPU with deterministic algorithms. Blocks map one tensor to one tensor.

Shape legend: none; blocks decide their shapes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from torchwarden.errors import NNArgumentError
from torchwarden.nn.activation_budget import CheckpointPlan, measure_activations, plan_segments

__all__ = ["CheckpointedSequential"]


class CheckpointedSequential(nn.Module):
    """``nn.Sequential`` whose segments are recomputed in backward instead of stored.

    Args:
        blocks: the blocks, applied in order.
        segments: ``None`` checkpoints every block on its own; an int splits the blocks
            into that many segments of (about) equal block count; a sequence of ints gives
            the first block of each segment after the first (``[2, 4]`` on 6 blocks:
            [0, 2), [2, 4), [4, 6)).

    Use :meth:`within_budget` to choose segments from a measured forward instead.
    """

    def __init__(
        self, blocks: Sequence[nn.Module], *, segments: int | Sequence[int] | None = None
    ) -> None:
        super().__init__()
        if not blocks:
            raise NNArgumentError("CheckpointedSequential needs at least one block.")
        self.blocks = nn.ModuleList(blocks)
        bounds = _bounds(len(blocks), segments)
        ranges = tuple(itertools.pairwise(bounds))
        self.plan = CheckpointPlan(ranges, (True,) * len(ranges), -1, -1)

    @classmethod
    def within_budget(
        cls, blocks: Sequence[nn.Module], sample: Tensor, budget_bytes: int
    ) -> CheckpointedSequential:
        """Measure ``blocks`` on ``sample`` (a batch of the size you train with) and keep
        their activations within ``budget_bytes`` with the least recompute. The chosen
        plan, with its estimate, is in ``.plan``. Raises ``CheckpointBudgetError`` when no
        segmentation fits."""
        memory = measure_activations(blocks, sample)
        model = cls(blocks)
        model.plan = plan_segments(memory, budget_bytes)
        return model

    def forward(self, x: Tensor) -> Tensor:
        for (start, end), ckpt in zip(self.plan.segments, self.plan.checkpointed):
            if ckpt and torch.is_grad_enabled():
                x = checkpoint(
                    self._run, x, start, end, use_reentrant=False, preserve_rng_state=True
                )
            else:
                x = self._run(x, start, end)
        return x

    def _run(self, x: Tensor, start: int, end: int) -> Tensor:
        for block in self.blocks[start:end]:
            x = block(x)
        return x

    def extra_repr(self) -> str:
        marks = ["ckpt" if c else "plain" for c in self.plan.checkpointed]
        return ", ".join(f"[{s}:{e}] {m}" for (s, e), m in zip(self.plan.segments, marks))


def _bounds(n: int, segments: int | Sequence[int] | None) -> list[int]:
    if segments is None:
        return list(range(n + 1))
    if isinstance(segments, int):
        if not 1 <= segments <= n:
            raise NNArgumentError(f"segments must be in [1, {n}] for {n} blocks, got {segments}.")
        return [round(i * n / segments) for i in range(segments + 1)]
    starts = list(segments)
    if starts != sorted(set(starts)) or (starts and not 0 < starts[0] <= starts[-1] < n):
        raise NNArgumentError(
            f"segment starts must increase strictly within (0, {n}), got {starts}; "
            "give the first block index of every segment after the first."
        )
    return [0, *starts, n]
