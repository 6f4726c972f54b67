"""Gated depth: each residual block's contribution is scaled by a per-sample gate.

    h ← h + g_l(h) · f_l(h),   g_l(h) ∈ [0, 1] per sample

The gate is a mask, never a Python branch on a tensor value: ``if (gate > 0.5).any()``
forces a device sync and breaks ``torch.compile``'s graph at every layer. Here every
block runs for every sample and the gate multiplies its output, so one static graph
serves all inputs (``fullgraph=True`` compiles). Skipping the compute of gated-off samples
would need data-dependent shapes; this block buys compile-friendliness and a learnt
depth, not fewer FLOPs.

Modes: ``soft`` uses g = σ(logit); ``straight_through`` uses the hard 0/1 decision
(σ(logit) > 0.5) in the forward pass and σ's gradient in the backward pass
(Bengio et al. 2013), so inference can read the gate as "layer used or not".

Shape legend: B batch, D width, L number of blocks; inputs are (B, ..., D).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from torchwarden.errors import NNArgumentError

__all__ = ["DepthOutput", "GatedDepth"]


class DepthOutput(NamedTuple):
    output: Tensor  # (B, ..., D)
    gates: Tensor  # (B, L): how much of each block each sample used

    @property
    def depth(self) -> Tensor:
        """(B,) the expected number of blocks used; add ``depth.mean()`` to the loss to
        reward shallow computation."""
        return self.gates.sum(dim=1)


class GatedDepth(nn.Module):
    """A stack of residual blocks, each gated per sample by a learnt scalar.

    Args:
        blocks: modules mapping (B, ..., D) to the same shape.
        d_model: width D, the input of each gate.
        straight_through: hard 0/1 gates forward, sigmoid gradient backward.
        gate_bias: initial gate logit; positive starts with every block on.
    """

    def __init__(
        self,
        blocks: Sequence[nn.Module],
        d_model: int,
        *,
        straight_through: bool = False,
        gate_bias: float = 2.0,
    ) -> None:
        super().__init__()
        if not blocks:
            raise NNArgumentError("GatedDepth needs at least one block.")
        self.blocks = nn.ModuleList(blocks)
        gates = [nn.Linear(d_model, 1) for _ in blocks]
        for gate in gates:
            nn.init.zeros_(gate.weight)
            nn.init.constant_(gate.bias, gate_bias)
        self.gates = nn.ModuleList(gates)
        self.straight_through = straight_through

    def gate(self, layer: int, h: Tensor) -> Tensor:
        """(B,) the gate of block ``layer`` for state h (B, ..., D), from its mean over
        the middle (e.g. sequence) dimensions."""
        pooled = h.flatten(1, -2).mean(dim=1) if h.dim() > 2 else h  # (B, D)
        soft = torch.sigmoid(self.gates[layer](pooled)).squeeze(-1)  # (B,)
        if not self.straight_through:
            return soft
        hard = (soft > 0.5).to(soft.dtype)
        return hard + (soft - soft.detach())  # exactly hard's value (x - x == 0), soft's gradient

    def forward(self, x: Tensor) -> DepthOutput:
        h, gates = x, []
        for layer, block in enumerate(self.blocks):
            g = self.gate(layer, h)
            h = h + g.view(-1, *([1] * (h.dim() - 1))) * block(h)
            gates.append(g)
        return DepthOutput(h, torch.stack(gates, dim=1))
