"""Activation checkpointing: bitwise-equal gradients with dropout, and budget planning."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
import torch
from torch import nn

from torchwarden.errors import CheckpointBudgetError
from torchwarden.nn import CheckpointedSequential, measure_activations, plan_segments


@pytest.fixture(autouse=True)
def deterministic() -> Iterator[None]:
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before)


def blocks(n: int = 6) -> list[nn.Module]:
    torch.manual_seed(0)
    return [
        nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Dropout(0.2), nn.Linear(64, 16))
        for _ in range(n)
    ]


def grads_and_rng(model: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    torch.manual_seed(123)
    model.zero_grad()
    xi = x.clone().requires_grad_()
    model(xi).pow(2).sum().backward()
    assert xi.grad is not None
    return [
        xi.grad,
        *(p.grad for p in model.parameters() if p.grad is not None),
    ], torch.get_rng_state()


@pytest.mark.parametrize("segments", [None, 1, 3, [2, 5]])
def test_gradients_equal_the_plain_model_bitwise(segments: int | Sequence[int] | None) -> None:
    bs = blocks()
    x = torch.randn(8, 16)
    plain_grads, plain_rng = grads_and_rng(nn.Sequential(*bs), x)
    ckpt_grads, ckpt_rng = grads_and_rng(CheckpointedSequential(bs, segments=segments), x)
    assert len(plain_grads) == len(ckpt_grads) == 1 + 4 * 6
    for a, b in zip(plain_grads, ckpt_grads):
        assert torch.equal(a, b)
    assert torch.equal(plain_rng, ckpt_rng)  # training continues on the same random stream


def test_checkpointing_keeps_only_segment_inputs() -> None:
    bs, x = blocks(), torch.randn(8, 16)
    plain = measure_activations([nn.Sequential(*bs)], x)[0].saved_bytes
    ckpt = measure_activations([CheckpointedSequential(bs, segments=2)], x)[0].saved_bytes
    assert ckpt == 2 * x.numel() * 4  # the two segment inputs
    assert plain > 10 * ckpt


def test_budget_plans() -> None:
    bs, x = blocks(), torch.randn(8, 16)
    memory = measure_activations(bs, x)
    plain = sum(m.saved_bytes for m in memory)
    roomy = plan_segments(memory, plain)
    assert roomy.checkpointed == (False,) and roomy.estimated_bytes == plain
    tight = plan_segments(memory, plain // 2)
    assert any(tight.checkpointed) and not all(tight.checkpointed)  # recompute only what it must
    assert tight.estimated_bytes <= plain // 2
    assert [s for s, _ in tight.segments] == sorted(s for s, _ in tight.segments)
    assert tight.segments[0][0] == 0 and tight.segments[-1][1] == 6
    with pytest.raises(CheckpointBudgetError, match="raise budget_bytes to at least"):
        plan_segments(memory, 1000)


def test_within_budget_model_matches_its_plan_and_the_plain_gradients() -> None:
    bs, x = blocks(), torch.randn(8, 16)
    rng = torch.get_rng_state()
    memory = measure_activations(bs, x)
    assert torch.equal(rng, torch.get_rng_state())  # measuring draws no random numbers
    budget = sum(m.saved_bytes for m in memory) // 3
    model = CheckpointedSequential.within_budget(bs, x, budget)
    assert model.plan.estimated_bytes <= budget
    kept = measure_activations([model], x)[0].saved_bytes
    assert kept <= model.plan.estimated_bytes
    for a, b in zip(grads_and_rng(nn.Sequential(*bs), x)[0], grads_and_rng(model, x)[0]):
        assert torch.equal(a, b)


def test_bad_segments_say_how_to_fix() -> None:
    with pytest.raises(ValueError, match=r"segments must be in \[1, 6\]"):
        CheckpointedSequential(blocks(), segments=7)
    with pytest.raises(ValueError, match="first block index"):
        CheckpointedSequential(blocks(), segments=[3, 2])
    with pytest.raises(ValueError, match="at least one block"):
        CheckpointedSequential([])


def test_no_grad_runs_plainly() -> None:
    model = CheckpointedSequential(blocks(), segments=2).eval()
    x = torch.randn(4, 16)
    with torch.no_grad():
        assert torch.equal(model(x), nn.Sequential(*model.blocks)(x))
