"""Measure what each block keeps for backward, and plan checkpoint segments to a budget.

A block's activation memory is the bytes of the tensors autograd saves during its
forward, caught with ``saved_tensors_hooks`` on a real forward of a sample batch
(parameters excluded: they exist anyway; each storage counted once). Checkpointing a
segment keeps only its input; in backward the segment is recomputed and its activations
live until its gradients are done, one segment at a time. So, for a plan:

    peak ≈ Σ_plain-segments activations + Σ_checkpointed-segments input
           + max_checkpointed-segments activations

The plan picks the balanced segmentation with the lowest peak, then leaves segments
un-checkpointed (no recompute) smallest first while the peak stays within budget.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from torchwarden.errors import CheckpointBudgetError
from torchwarden.units import format_bytes

__all__ = ["BlockMemory", "CheckpointPlan", "measure_activations", "plan_segments"]


@dataclass(frozen=True)
class BlockMemory:
    saved_bytes: int  # bytes autograd keeps for this block's backward
    input_bytes: int  # bytes of the block's input (what a checkpoint starting here keeps)


@dataclass(frozen=True)
class CheckpointPlan:
    segments: tuple[tuple[int, int], ...]  # [start, end) block ranges covering every block
    checkpointed: tuple[bool, ...]  # per segment
    estimated_bytes: int  # activation peak with this plan
    plain_bytes: int  # activation peak without checkpointing


def measure_activations(blocks: Sequence[nn.Module], sample: Tensor) -> list[BlockMemory]:
    """Run ``blocks`` on ``sample`` once (RNG state restored after) and measure each."""
    params = {p.untyped_storage().data_ptr() for b in blocks for p in b.parameters()}
    seen: set[int] = set()
    out, x = [], sample
    with torch.random.fork_rng(devices=_devices(sample)), torch.enable_grad():
        for block in blocks:
            saved = [0]

            def pack(t: Tensor, saved: list[int] = saved) -> Tensor:
                ptr = t.untyped_storage().data_ptr()
                if ptr not in params and ptr not in seen:
                    seen.add(ptr)
                    saved[0] += t.untyped_storage().nbytes()
                return t

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                y = block(x)
            out.append(BlockMemory(saved[0], x.untyped_storage().nbytes()))
            x = y
    return out


def _devices(t: Tensor) -> list[int]:
    return [t.device.index or 0] if t.device.type == "cuda" else []


def estimate(memory: Sequence[BlockMemory], plan: Sequence[tuple[int, int, bool]]) -> int:
    """Activation peak of ``plan`` (start, end, checkpointed) per the module docstring."""
    kept, recompute = 0, 0
    for start, end, ckpt in plan:
        inner = sum(m.saved_bytes for m in memory[start:end])
        kept += memory[start].input_bytes if ckpt else inner
        recompute = max(recompute, inner if ckpt else 0)
    return kept + recompute


def balanced(memory: Sequence[BlockMemory], k: int) -> list[tuple[int, int]]:
    """``k`` (or fewer) contiguous segments of about equal saved bytes."""
    total = sum(m.saved_bytes for m in memory) or 1
    bounds, acc = [0], 0
    for i, m in enumerate(memory[:-1]):
        acc += m.saved_bytes
        if len(bounds) < k and acc * k >= total * len(bounds):
            bounds.append(i + 1)
    bounds.append(len(memory))
    return list(itertools.pairwise(bounds))


def plan_segments(memory: Sequence[BlockMemory], budget_bytes: int) -> CheckpointPlan:
    """The plan with the least recompute whose estimated peak fits ``budget_bytes``."""
    n = len(memory)
    plain = estimate(memory, [(0, n, False)])
    if plain <= budget_bytes:
        return CheckpointPlan(((0, n),), (False,), plain, plain)
    best = min(
        ([(s, e, True) for s, e in balanced(memory, k)] for k in range(1, n + 1)),
        key=lambda p: estimate(memory, p),
    )
    lowest = estimate(memory, best)
    if lowest > budget_bytes:
        raise CheckpointBudgetError(
            f"checkpointing can bring the activations of these {n} blocks from "
            f"{format_bytes(plain)} down to {format_bytes(lowest)} at best, above the budget "
            f"of {format_bytes(budget_bytes)}; raise budget_bytes to at least {lowest} or "
            "measure and train with a smaller batch."
        )

    def inner(j: int) -> int:
        return sum(m.saved_bytes for m in memory[best[j][0] : best[j][1]])

    for j in sorted(range(len(best)), key=inner):
        trial = [*best[:j], (best[j][0], best[j][1], False), *best[j + 1 :]]
        if estimate(memory, trial) <= budget_bytes:
            best = trial
    return CheckpointPlan(
        tuple((s, e) for s, e, _ in best),
        tuple(c for _, _, c in best),
        estimate(memory, best),
        plain,
    )
