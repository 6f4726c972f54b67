"""Adaptive Computation Time (Graves 2016, arXiv:1603.08983), vectorised and compile-friendly.

At ponder step n a recurrent cell updates the state, s_n = cell(x_n, s_{n-1}), and a
halting unit gives p_n = σ(w·s_n + b). A sample halts at the first step N where
Σ_{n≤N} p_n would reach 1 − ε (or at ``max_steps``). Its weights are p_n for n < N and
the remainder R = 1 − Σ_{n<N} p_n at N, so they sum to one; the output is the weighted
mean of the states, and the ponder cost is N + R (only R carries a gradient).

The remainder is taken from the halting sum *before* step N's probability is added: adding
first and subtracting after gives 1 − Σ_{n≤N} p_n, which is ≤ ε, often negative, and
breaks the sum-to-one property. Samples that halted keep being computed but with weight
zero (a mask), so the loop has a fixed trip count and no branch on tensor values:
``torch.compile(fullgraph=True)`` traces it as one graph.

Shape legend: B batch, I input width, H state width, N = max_steps.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from torchwarden.errors import NNArgumentError

__all__ = ["ACTOutput", "AdaptiveComputationTime"]


class ACTOutput(NamedTuple):
    output: Tensor  # (B, H) weighted mean of the states
    ponder_cost: Tensor  # (B,) N + R; add tau * ponder_cost.mean() to the loss
    steps: Tensor  # (B,) int64, N: ponder steps each sample took
    weights: Tensor  # (B, N) halting weights; each row sums to one


class AdaptiveComputationTime(nn.Module):
    """Ponder over ``x`` with a GRU cell until the halting probability reaches 1 − eps.

    Args:
        input_size: width I of the input; a first-step flag is appended to it.
        hidden_size: width H of the state.
        max_steps: most ponder steps N for any sample.
        eps: halting threshold margin ε (Graves uses 0.01).
        halt_bias: initial bias of the halting unit (Graves: positive, to start short).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        max_steps: int = 10,
        eps: float = 0.01,
        halt_bias: float = 1.0,
    ) -> None:
        super().__init__()
        if max_steps < 1 or not 0.0 < eps < 1.0:
            raise NNArgumentError(
                f"ACT needs max_steps >= 1 and 0 < eps < 1, got {max_steps}, {eps}."
            )
        self.cell = nn.GRUCell(input_size + 1, hidden_size)
        self.halt = nn.Linear(hidden_size, 1)
        nn.init.constant_(self.halt.bias, halt_bias)
        self.hidden_size, self.max_steps, self.eps = hidden_size, max_steps, eps

    def forward(self, x: Tensor, state: Tensor | None = None) -> ACTOutput:
        batch = x.shape[0]
        s = x.new_zeros(batch, self.hidden_size) if state is None else state
        flag = x.new_ones(batch, 1)  # Graves' first-step flag: 1 on step one, then 0
        halted_sum = x.new_zeros(batch)  # Σ p_n over steps before this one
        running = x.new_ones(batch)  # 1 until the sample halts
        out = x.new_zeros(batch, self.hidden_size)
        steps, remainders, weights = x.new_zeros(batch), x.new_zeros(batch), []
        for n in range(self.max_steps):
            s = self.cell(torch.cat([x, flag], dim=1), s)
            flag = torch.zeros_like(flag)
            p = torch.sigmoid(self.halt(s)).squeeze(-1)  # (B,)
            halts = (halted_sum + p >= 1 - self.eps) if n < self.max_steps - 1 else None
            halts_now = running if halts is None else running * halts.to(x.dtype)
            remainder = 1 - halted_sum  # before adding p: see the module docstring
            w = halts_now * remainder + (running - halts_now) * p
            out = out + w.unsqueeze(1) * s
            steps = steps + running
            remainders = remainders + halts_now * remainder
            halted_sum = halted_sum + (running - halts_now) * p
            running = running - halts_now
            weights.append(w)
        ponder = steps + remainders  # N + R: N is a count, only R carries a gradient
        return ACTOutput(out, ponder, steps.long(), torch.stack(weights, dim=1))
