"""Leak findings of the step monitor: one per growing set, its sightings as data."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchwarden.findings import LeakFinding, finding_from_dict
from torchwarden.runtime.steps import StepMonitor

HISTORY: list[torch.Tensor] = []


@pytest.fixture(autouse=True)
def _examine_by_steps_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # the schedule's time budget would make which steps get examined depend on timing
    monkeypatch.setenv("TORCHWARDEN_EXAM_BUDGET", "1")


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


def test_a_growing_set_is_one_finding_with_its_trend() -> None:
    HISTORY.clear()
    monitor = StepMonitor(rank=3)
    _train(monitor, 40)
    HISTORY.clear()
    (leak,) = monitor.leaks
    assert isinstance(leak, LeakFinding) and leak.rank == 3
    assert leak.holder == f"{__name__}.HISTORY"
    steps = leak.seen_at_steps
    assert len(steps) >= 3, leak  # growth across two separated intervals
    assert list(steps) == sorted(set(steps)), steps
    assert leak.first_step == leak.step == steps[0]
    assert leak.count >= 30 and leak.growth_per_step and leak.growth_per_step > 0
    assert leak.message.count("keeps growing") == 1


def test_run_json_form_keeps_the_old_keys() -> None:
    HISTORY.clear()
    monitor = StepMonitor()
    _train(monitor, 12)
    HISTORY.clear()
    (record,) = monitor.findings
    old_keys = {"kind", "message", "fix", "holder", "site", "nbytes", "device", "shape", "dtype"}
    old_keys |= {"retains_graph", "graph_bytes", "graph_nodes", "step", "rank", "seen_at_steps"}
    assert old_keys <= set(record), old_keys - set(record)
    assert isinstance(record["seen_at_steps"], list)
    assert finding_from_dict(record) == monitor.leaks[0]


def test_the_monitor_holds_nothing_per_step() -> None:
    """Steps go to ``on_step`` as they end; the monitor itself keeps a count, not rows."""
    import tracemalloc

    last: dict[str, int] = {}
    monitor = StepMonitor(leak_check=False, on_step=lambda record: last.update(step=record["step"]))
    monitor.start()
    try:
        for _ in range(500):  # warm: first-use allocations of the sampling path
            monitor.boundary()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for _ in range(20_000):
            monitor.boundary()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
    finally:
        monitor.stop()
    kept = [
        s
        for s in after.compare_to(before, "filename")
        if "torchwarden" in s.traceback[0].filename and s.size_diff > 0
    ]
    grown = sum(s.size_diff for s in kept)
    assert grown < 16 * 1024, kept  # a row a step would be well over 1 MiB here
    assert monitor.step_count == 20_500 and last["step"] == 20_500
