from __future__ import annotations

import pytest
import torch
import torch._dynamo

from torchwarden.nn import SiLU, SiLUFunction, silu


def test_matches_torch_silu_and_its_gradient() -> None:
    x = torch.linspace(-8, 8, 101, requires_grad=True)
    y = silu(x)
    torch.testing.assert_close(y, torch.nn.functional.silu(x))
    (g,) = torch.autograd.grad(y.sum(), x)
    x2 = x.detach().requires_grad_()
    (g_ref,) = torch.autograd.grad(torch.nn.functional.silu(x2).sum(), x2)
    torch.testing.assert_close(g, g_ref)


def test_gradcheck_and_gradgradcheck_in_double() -> None:
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(SiLUFunction.apply, (x,))
    assert torch.autograd.gradgradcheck(SiLUFunction.apply, (x,))


def test_vmap_matches_the_loop() -> None:
    x = torch.randn(4, 6)
    torch.testing.assert_close(torch.vmap(silu)(x), torch.stack([silu(r) for r in x]))
    per_sample = torch.vmap(torch.func.grad(lambda r: silu(r).sum()))(x)
    s = torch.sigmoid(x)
    torch.testing.assert_close(per_sample, s * (1 + x * (1 - s)))


def test_compiles_without_a_graph_break() -> None:
    torch._dynamo.reset()
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), SiLU())
    explanation = torch._dynamo.explain(model)(torch.randn(2, 4))
    assert explanation.graph_break_count == 0
    assert explanation.graph_count == 1
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    x = torch.randn(2, 4, requires_grad=True)
    compiled(x).sum().backward()
    ref = x.detach().requires_grad_()
    model(ref).sum().backward()
    assert x.grad is not None and ref.grad is not None
    torch.testing.assert_close(x.grad, ref.grad)


@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4)])
def test_any_shape(shape: tuple[int, ...]) -> None:
    x = torch.randn(shape)
    torch.testing.assert_close(SiLU()(x), torch.nn.functional.silu(x))
