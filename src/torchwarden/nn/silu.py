"""SiLU as a custom ``autograd.Function`` written the torch ≥ 2.0 way.

``forward`` takes no ``ctx``; ``setup_context`` saves what backward needs. That split is
what lets ``torch.func`` transforms (``vmap``, ``grad``) and ``torch.compile`` trace the
function: with ``generate_vmap_rule = True`` torch derives the batching rule from the
body, and dynamo inlines the function into the graph instead of breaking it. The
backward is written with differentiable torch ops, so it is itself differentiable:
double backward (``gradgradcheck``, Hessian-vector products) works without a second
Function.

    silu(x)  = x · σ(x)
    silu'(x) = σ(x) · (1 + x · (1 − σ(x)))
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["SiLU", "SiLUFunction", "silu"]


class SiLUFunction(torch.autograd.Function):
    """x · sigmoid(x) with a hand-written, twice-differentiable backward."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor) -> Tensor:  # type: ignore[override]
        return x * torch.sigmoid(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        (x,) = inputs
        ctx.save_for_backward(x)  # σ(x) is recomputed: one saved tensor instead of two

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        grad_in: Tensor = grad_out * s * (1 + x * (1 - s))
        return grad_in


def silu(x: Tensor) -> Tensor:
    """Functional form of :class:`SiLU`."""
    out: Tensor = SiLUFunction.apply(x)  # type: ignore[no-untyped-call]
    return out


class SiLU(nn.Module):
    """``nn.SiLU`` through :class:`SiLUFunction`: same values, the hand-written backward."""

    def forward(self, x: Tensor) -> Tensor:
        return silu(x)
