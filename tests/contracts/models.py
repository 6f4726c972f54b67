"""Small models with contracts, shared by the contract tests (and their subprocesses)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from torchwarden.contracts import ModelOutput, contract


class ClassifierOutput(ModelOutput):
    logits: Float[Tensor, "batch classes"]
    hidden: Float[Tensor, "batch seq dim"]
    loss: Float[Tensor, ""] | None = None


class Pair(NamedTuple):
    first: Float[Tensor, "batch dim"]
    second: Int[Tensor, " batch"]


class Classifier(nn.Module):
    """Token ids and a mask in, a structured output out."""

    def __init__(self, vocab: int = 11, dim: int = 8, classes: int = 3) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, classes)

    @contract
    def forward(
        self, ids: Int[Tensor, "batch seq"], mask: Float[Tensor, "batch seq"]
    ) -> ClassifierOutput:
        hidden = self.embed(ids) * mask[..., None]
        return ClassifierOutput(self.head(hidden.mean(1)), hidden)


class Encoder(nn.Module):
    """A plain tensor boundary: ``x`` and ``mask`` must agree on batch and seq."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    @contract
    def forward(
        self, x: Float[Tensor, "batch seq dim"], mask: Float[Tensor, "batch seq"]
    ) -> Float[Tensor, "batch seq dim"]:
        return self.proj(x) * mask[..., None]


def inputs(batch: int = 2, seq: int = 5, vocab: int = 11) -> tuple[Tensor, Tensor]:
    return torch.randint(0, vocab, (batch, seq)), torch.ones(batch, seq)
