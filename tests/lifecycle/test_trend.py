"""Default (auto) mode: cheap on every call, exact when counters say memory keeps growing."""

from __future__ import annotations

import torch
from torch import nn

import torchwarden


def _loop(name: str, steps: int, leak_from: int | None) -> list[torchwarden.ScopeReport]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    history: list[torch.Tensor] = []
    reports = []
    for step in range(steps):
        with torchwarden.scope(name) as s:
            loss = model(torch.randn(16, 32)).pow(2).mean()
            loss.backward()
            opt.step()
            opt.zero_grad()
            if leak_from is not None and step >= leak_from:
                history.append(loss.detach() * 1)  # SITE:trend
        reports.append(s.report)
    return reports


def test_clean_loop_is_cheap_and_clean() -> None:
    reports = _loop("trend-clean", 60, leak_from=None)
    assert all(r.ok for r in reports if r.mode == "exact")
    assert reports[0].mode == "exact"  # a scope used once reports exactly
    exact = sum(r.mode == "exact" for r in reports)
    assert exact <= 3, f"{exact} exact examinations in a clean loop of 60 steps"


def test_leak_growing_every_step_is_found_within_ten_steps() -> None:
    from tests.lifecycle.helpers import site

    reports = _loop("trend-leak", 45, leak_from=20)
    found = [i for i, r in enumerate(reports) if r.leaks]
    assert found, "the growing leak was never reported"
    first = found[0]
    assert 20 <= first < 30, f"found at step {first}, leak started at step 20"
    leak = reports[first].leaks[0]
    assert leak.holder.startswith("local history[")
    assert leak.site == site(__file__, "SITE:trend")
    assert any(r.suspect for r in reports[20:first])  # the counters raised the alarm


def test_counters_mode_never_examines() -> None:
    for _ in range(3):
        with torchwarden.scope("counters-only", mode="counters") as s:
            torch.ones(3)
        assert s.report.mode == "counters" and s.report.leaks == []
        assert "cpu" in s.report.memory["after"]
