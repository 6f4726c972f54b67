"""Leak findings of the step monitor: one per group, its sightings as data, never duplicated."""

from __future__ import annotations

import torch
from torch import nn

from torchwarden.findings import LeakFinding, finding_from_dict
from torchwarden.runtime.steps import StepMonitor

HISTORY: list[torch.Tensor] = []


def _train(monitor: StepMonitor, steps: int) -> None:
    torch.manual_seed(0)
    model = nn.Linear(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    monitor.start()
    try:
        for _ in range(steps):
            loss = model(torch.randn(4, 8)).pow(2).mean()
            loss.backward()
            opt.step()  # the monitor's boundary: an examination spans two of these
            opt.zero_grad()
            HISTORY.append(loss.detach() * 1)  # SITE:step-leak
    finally:
        monitor.stop()


def test_each_examination_adds_its_step_once() -> None:
    HISTORY.clear()
    monitor = StepMonitor(rank=3)
    _train(monitor, 40)
    HISTORY.clear()
    (leak,) = monitor.leaks
    assert isinstance(leak, LeakFinding) and leak.rank == 3
    steps = leak.seen_at_steps
    assert len(steps) >= 2, leak  # the first examination, and at least one after learning
    assert list(steps) == sorted(set(steps)), steps  # no step twice, even with 2 tensors each
    assert leak.first_step == leak.step == steps[0]
    assert leak.count > len(steps)  # each examination saw both steps' tensors
    assert leak.message.endswith(f"found again at steps {', '.join(map(str, steps))}: it grows")
    assert leak.message.count("found again") == 1


def test_run_json_form_keeps_the_old_keys() -> None:
    HISTORY.clear()
    monitor = StepMonitor()
    _train(monitor, 6)
    HISTORY.clear()
    (record,) = monitor.findings
    old_keys = {"kind", "message", "fix", "holder", "site", "nbytes", "device", "shape", "dtype"}
    old_keys |= {"retains_graph", "graph_bytes", "graph_nodes", "step", "rank", "seen_at_steps"}
    assert old_keys <= set(record), old_keys - set(record)
    assert isinstance(record["seen_at_steps"], list)
    assert finding_from_dict(record) == monitor.leaks[0]
