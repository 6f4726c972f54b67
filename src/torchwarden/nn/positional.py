"""Sinusoidal positional encoding, precomputed once and compile-friendly.

Shape legend: B batch, S sequence length, D model width.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from torchwarden.errors import NNArgumentError, SequenceTooLongError

__all__ = ["PositionalEncoding"]


def sinusoid_table(max_len: int, d_model: int) -> Tensor:
    """The (max_len, d_model) table of "Attention Is All You Need", in float32."""
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # (S, 1)
    freq = torch.exp(
        torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model)
    )
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq[: d_model // 2])  # odd widths have one cos fewer
    return table


class PositionalEncoding(nn.Module):
    """Add a fixed sinusoidal position signal to token embeddings.

    The table is built once as a registered buffer, so it follows ``.to(device)`` and
    round-trips through ``state_dict``. ``forward`` only slices it: under
    ``torch.compile(fullgraph=True)`` one dynamic-shape graph serves every sequence
    length up to ``max_len`` (after the first, static, compilation).

    Args:
        d_model: width D of the embeddings.
        max_len: longest sequence S the table covers.
        batch_first: input is (B, S, D) when True, (S, B, D) when False.
        dropout: dropout probability applied after the addition.
    """

    pe: Tensor

    def __init__(
        self, d_model: int, max_len: int = 5000, *, batch_first: bool = True, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if d_model <= 0 or max_len <= 0:
            raise NNArgumentError(
                f"PositionalEncoding needs d_model > 0 and max_len > 0, got d_model={d_model}, "
                f"max_len={max_len}."
            )
        if not 0.0 <= dropout < 1.0:
            raise NNArgumentError(f"PositionalEncoding dropout must be in [0, 1), got {dropout}.")
        self.d_model = d_model
        self.max_len = max_len
        self.batch_first = batch_first
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoid_table(max_len, d_model), persistent=True)

    def forward(self, x: Tensor) -> Tensor:
        seq_len = x.size(1) if self.batch_first else x.size(0)
        if x.size(-1) != self.d_model:
            raise NNArgumentError(
                f"PositionalEncoding(d_model={self.d_model}) got input of width {x.size(-1)} "
                f"(shape {tuple(x.shape)}); the last dimension must equal d_model."
            )
        if seq_len > self.max_len:
            raise SequenceTooLongError(
                f"sequence length {seq_len} is longer than max_len={self.max_len} of "
                f"PositionalEncoding(d_model={self.d_model}); build it with "
                f"max_len>={seq_len} or truncate the input."
            )
        table = self.pe[:seq_len].to(dtype=x.dtype)  # (S, D)
        table = table.unsqueeze(0) if self.batch_first else table.unsqueeze(1)
        out: Tensor = self.dropout(x + table)
        return out

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"
