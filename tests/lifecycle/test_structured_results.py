"""A model's structured output (ModelOutput, a dataclass, a NamedTuple) is a result, field by field."""

from __future__ import annotations

from typing import NamedTuple

import torch

import torchwarden
from torchwarden.contracts import ModelOutput

MODEL = torch.nn.Linear(16, 16)
KEPT: list[object] = []


class Output(ModelOutput):
    logits: torch.Tensor
    hidden: torch.Tensor


class Pair(NamedTuple):
    logits: torch.Tensor
    hidden: torch.Tensor


@torchwarden.scoped
def forward(x: torch.Tensor) -> Output:
    hidden = MODEL(x)
    return Output(logits=hidden.softmax(-1), hidden=hidden)


def test_a_returned_model_output_is_not_a_leak() -> None:
    out = forward(torch.randn(4, 16))
    assert forward.last_report.leaks == [], forward.last_report
    assert out.logits.grad_fn is not None


def test_a_record_bound_to_a_name_is_the_blocks_result() -> None:
    with torchwarden.scope(mode="exact") as s:
        out = Output(logits=MODEL(torch.randn(4, 16)), hidden=torch.randn(4, 16))
        pair = Pair(MODEL(torch.randn(2, 16)), torch.randn(2, 16))
    assert s.report.leaks == [], s.report
    assert out.hidden.shape == (4, 16) and pair.hidden.shape == (2, 16)


def test_records_piling_up_in_a_list_are_still_a_leak() -> None:
    KEPT.clear()
    with torchwarden.scope(mode="exact") as s:
        for _ in range(3):
            KEPT.append(Output(logits=MODEL(torch.randn(4, 16)), hidden=torch.randn(4, 16)))
    holders = {leak.holder for leak in s.report.leaks}
    assert any("KEPT[" in h and h.endswith(".logits") for h in holders), holders
    KEPT.clear()


class TrainState(NamedTuple):
    step: torch.Tensor
    history: list[torch.Tensor]


def test_a_list_inside_a_bound_record_still_leaks() -> None:
    state = TrainState(torch.zeros(()), [])
    with torchwarden.scope(mode="exact") as s:
        for _ in range(3):
            state.history.append(MODEL(torch.randn(4, 16)).sum())  # keeps each graph
    holders = {leak.holder for leak in s.report.leaks}
    assert any("state[1][" in h for h in holders), holders  # the list field, by index
