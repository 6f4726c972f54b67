from __future__ import annotations

import pytest
import torch

import torchwarden


def test_counts_saved_activations_not_parameters() -> None:
    w = torch.nn.Parameter(torch.randn(128, 128))
    x = torch.randn(16, 128)
    h = (x @ w).tanh()  # saves x (input) and the tanh result
    r = torchwarden.graph_retention(h)
    assert r.retains_graph
    assert r.bytes == 2 * 16 * 128 * 4
    assert r.by_device == {"cpu": r.bytes}
    assert r.nodes >= 2


def test_backward_frees_the_graph() -> None:
    w = torch.randn(32, 32, requires_grad=True)
    loss = (torch.randn(4, 32) @ w).relu().sum()
    loss.backward()
    r = torchwarden.graph_retention(loss)
    assert not r.retains_graph and r.bytes == 0


def test_temporary_leaf_is_pinned_by_its_graph() -> None:
    leaf = torch.randn(256, requires_grad=True)
    r = torchwarden.graph_retention((leaf * 2).sum())
    assert r.leaf_storages == {("cpu", leaf.untyped_storage().data_ptr())}
    assert r.bytes < leaf.nbytes  # the leaf is the user's; only what backward saved counts


def test_tensor_without_graph() -> None:
    assert torchwarden.graph_retention(torch.ones(3)).nodes == 0


def test_custom_function_saved_tensors() -> None:
    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            ctx.save_for_backward(x * 1)
            return x * x

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = torch.randn(100, requires_grad=True)
    y = Square.apply(x)
    assert torchwarden.graph_retention(y).bytes >= 400


def test_rejects_non_tensors() -> None:
    with pytest.raises(TypeError, match="takes a tensor"):
        torchwarden.graph_retention([1, 2])  # type: ignore[arg-type]
