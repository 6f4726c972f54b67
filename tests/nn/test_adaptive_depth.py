"""Gated depth and ACT: semantics, gradients, and one graph under torch.compile."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch import nn

from torchwarden.nn import AdaptiveComputationTime, GatedDepth


def act(dtype: torch.dtype = torch.float32, **kw: float) -> AdaptiveComputationTime:
    torch.manual_seed(0)
    return AdaptiveComputationTime(3, 5, max_steps=6, **kw).to(dtype)  # type: ignore[arg-type]


def halting_probs(model: AdaptiveComputationTime, x: torch.Tensor) -> torch.Tensor:
    """(B, N) p_n recomputed step by step, the reference the module must agree with."""
    s = x.new_zeros(x.shape[0], model.hidden_size)
    probs = []
    for n in range(model.max_steps):
        flag = x.new_full((x.shape[0], 1), 1.0 if n == 0 else 0.0)
        s = model.cell(torch.cat([x, flag], 1), s)
        probs.append(torch.sigmoid(model.halt(s)).squeeze(-1))
    return torch.stack(probs, 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [-3.0, -1.0, 0.0, 1.0])
def test_act_weights_follow_graves(dtype: torch.dtype, bias: float) -> None:
    model = act(dtype, halt_bias=bias)
    x = torch.randn(64, 3, dtype=dtype)
    with torch.no_grad():
        out = model(x)
        p = halting_probs(model, x)
    eps = model.eps
    for b in range(x.shape[0]):
        n_halt = int(out.steps[b])
        before = p[b, : n_halt - 1]
        # halted at the first step whose cumulative sum reaches 1 - eps (or at max_steps)
        assert before.cumsum(0).lt(1 - eps).all() if n_halt > 1 else True
        if n_halt < model.max_steps:
            assert float(before.sum() + p[b, n_halt - 1]) >= 1 - eps
        torch.testing.assert_close(out.weights[b, : n_halt - 1], before)
        assert torch.all(out.weights[b, n_halt:] == 0)
        remainder = out.weights[b, n_halt - 1]
        assert 0 < remainder <= 1
        total = out.weights.new_zeros(())
        for w in out.weights[b]:  # in step order, as the module accumulates
            total = total + w
        assert total == 1.0  # exactly: the remainder is taken before the sum passes 1 - eps
        torch.testing.assert_close(out.ponder_cost[b], n_halt + remainder)
    expected_out = (out.weights.unsqueeze(-1) * _states(model, x)).sum(1)
    torch.testing.assert_close(out.output, expected_out)


def _states(model: AdaptiveComputationTime, x: torch.Tensor) -> torch.Tensor:
    s, states = x.new_zeros(x.shape[0], model.hidden_size), []
    with torch.no_grad():
        for n in range(model.max_steps):
            flag = x.new_full((x.shape[0], 1), 1.0 if n == 0 else 0.0)
            s = model.cell(torch.cat([x, flag], 1), s)
            states.append(s)
    return torch.stack(states, 1)


def test_act_step_counts_span_the_range() -> None:
    lo = act(halt_bias=5.0)(torch.randn(8, 3))
    hi = act(halt_bias=-9.0)(torch.randn(8, 3))
    assert torch.all(lo.steps == 1) and torch.all(lo.ponder_cost <= 2)
    assert torch.all(hi.steps == 6)  # forced to halt at max_steps
    assert hi.steps.dtype == torch.int64


def test_act_gradcheck_in_double() -> None:
    model = act(torch.float64)
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)

    def loss(inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = model(inp)
        return out.output, out.ponder_cost

    assert torch.autograd.gradcheck(loss, (x,))


def test_ponder_cost_gradient_reaches_the_halting_unit() -> None:
    model = act()
    model(torch.randn(16, 3)).ponder_cost.mean().backward()
    assert model.halt.bias.grad is not None and model.halt.bias.grad.abs() > 0


def gated(straight_through: bool, dtype: torch.dtype = torch.float32) -> GatedDepth:
    torch.manual_seed(0)
    blocks = [nn.Sequential(nn.Linear(4, 4), nn.Tanh()) for _ in range(3)]
    return GatedDepth(blocks, 4, straight_through=straight_through, gate_bias=0.0).to(dtype)


@pytest.mark.parametrize("straight_through", [False, True])
def test_gated_depth_applies_the_gate_as_a_mask(straight_through: bool) -> None:
    model = gated(straight_through)
    with torch.no_grad():
        for gate in model.gates:
            gate.weight.normal_()
    x = torch.randn(32, 4)
    out = model(x)
    h = x
    for layer, block in enumerate(model.blocks):
        g = torch.sigmoid(model.gates[layer](h)).squeeze(-1)
        g = (g > 0.5).float() if straight_through else g
        h = h + g[:, None] * block(h)
    torch.testing.assert_close(out.output, h)
    if straight_through:
        assert set(out.gates.unique().tolist()) <= {0.0, 1.0}
        assert 0 < out.depth.mean() < 3
    out.depth.mean().backward()  # the hard forward still has the soft gradient
    assert all(g.bias.grad is not None and g.bias.grad.abs() > 0 for g in model.gates)


def test_gated_depth_handles_sequences_and_gradcheck() -> None:
    model = gated(False, torch.float64)
    x = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    assert model(x).output.shape == (2, 5, 4)
    assert torch.autograd.gradcheck(lambda t: model(t).output, (x,))


@pytest.mark.parametrize(
    "build",
    [lambda: act(), lambda: gated(False), lambda: gated(True)],
    ids=["act", "gated-soft", "gated-straight-through"],
)
def test_one_graph_under_compile(build: object) -> None:
    torch._dynamo.reset()
    model = build()  # type: ignore[operator]
    x = torch.randn(8, 3 if isinstance(model, AdaptiveComputationTime) else 4)
    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    for got, want in zip(compiled(x), model(x)):
        torch.testing.assert_close(got, want)
