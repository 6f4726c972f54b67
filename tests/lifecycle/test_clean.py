"""Blocks that leak nothing must report nothing."""

from __future__ import annotations

import torch
from torch import nn

import torchwarden

KEPT: list[torch.Tensor] = []
MODELS: list[nn.Module] = []
VIEWS: list[torch.Tensor] = []
PRE = torch.randn(100, 10)


def test_returned_tensors_are_not_leaks() -> None:
    @torchwarden.scoped(mode="exact")
    def make() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return torch.randn(3), {"y": torch.ones(2)}

    out = make()
    report = make.last_report  # type: ignore[attr-defined]
    assert report.ok and report.leaks == [], str(report)
    assert report.outputs >= 2
    del out


def test_kept_tensors_are_not_leaks() -> None:
    with torchwarden.scope(mode="exact") as s:
        KEPT.append(s.keep(torch.randn(5)))
    assert s.report.ok, str(s.report)
    KEPT.clear()


def test_in_place_updates_of_existing_tensors() -> None:
    w = torch.zeros(64)
    with torchwarden.scope(mode="exact") as s:
        w.add_(1).mul_(3)
        w[:4].zero_()
    assert s.report.ok, str(s.report)


def test_parameters_created_in_block_are_state() -> None:
    with torchwarden.scope(mode="exact") as s:
        MODELS.append(nn.Linear(8, 4))
    assert s.report.ok, str(s.report)
    assert {x.what for x in s.report.state} == {"parameter"}
    assert len(s.report.state) == 2
    MODELS.clear()


def test_buffers_grads_and_optimizer_state_are_state() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
    opt = torch.optim.Adam(model.parameters())
    with torchwarden.scope(mode="exact") as s:
        model.register_buffer("extra", torch.zeros(3))
        model(torch.randn(16, 8)).sum().backward()
        opt.step()
    assert s.report.ok, str(s.report)
    whats = {x.what for x in s.report.state}
    assert "grad" in whats and "state" in whats


def test_views_of_existing_tensors() -> None:
    with torchwarden.scope(mode="exact") as s:
        VIEWS.append(PRE[3])
        VIEWS.append(PRE.view(-1)[:10])
    assert s.report.ok, str(s.report)
    VIEWS.clear()


def test_item_accumulation_under_no_grad() -> None:
    model = nn.Linear(16, 1)
    total = 0.0
    with torchwarden.scope(mode="exact") as s, torch.no_grad():
        for _ in range(5):
            total += model(torch.randn(8, 16)).sum().item()
    assert s.report.ok, str(s.report)
    assert isinstance(total, float)


def test_results_bound_where_the_block_ran_are_not_leaks() -> None:
    with torchwarden.scope(mode="exact") as s:
        result = torch.randn(4) * 2
    assert s.report.ok, str(s.report)
    assert s.report.outputs >= 1
    del result


def test_scope_does_not_extend_lifetimes() -> None:
    import weakref

    with torchwarden.scope(mode="exact"):
        big = torch.randn(1000)
    ref = weakref.ref(big)
    del big
    assert ref() is None, "the scope kept a reference to a local of the block"
