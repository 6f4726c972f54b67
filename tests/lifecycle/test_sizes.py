"""Reported bytes are what dropping the holder frees: measured by dropping it.

Each test keeps tensors in a holder inside an exact scope, reads the report, then
clears the holder and measures the C heap (glibc's in-use bytes, mmapped chunks
included) before and after. Sizes are megabytes so allocator noise stays far below 10 %.
"""

from __future__ import annotations

import gc

import pytest
import torch
from torch import nn

import torchwarden
from torchwarden.memory.heap import heap_in_use, heap_source

HELD: list[torch.Tensor] = []

pytestmark = pytest.mark.skipif(heap_source() != "glibc", reason="needs glibc's mallinfo2")


def _freed_by_clearing() -> int:
    gc.collect()
    before = heap_in_use()
    HELD.clear()
    gc.collect()
    return before - heap_in_use()


def _assert_close(reported: int, freed: int) -> None:
    assert freed > 1 << 20, freed  # the measurement means something
    assert abs(reported - freed) <= 0.10 * freed, (reported, freed)


def test_kept_output_with_graph_reports_what_dropping_frees() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 512))
    batch = torch.randn(256, 512)  # existed before the scope: dropping the holder keeps it
    HELD.clear()
    with torchwarden.scope(mode="exact") as s:
        HELD.append(model(batch))
    (leak,) = s.report.leaks
    reported = leak.nbytes + (leak.graph_bytes or 0)
    assert s.report.bytes_leaked == reported
    _assert_close(reported, _freed_by_clearing())


def test_kept_loss_counts_its_graph_not_parameters_nor_inputs() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(512, 2048), nn.ReLU(), nn.Linear(2048, 1))
    batch = torch.randn(512, 512)
    HELD.clear()
    with torchwarden.scope(mode="exact") as s:
        HELD.append(model(batch).pow(2).mean())
    (leak,) = s.report.leaks
    assert leak.retains_graph
    _assert_close(s.report.bytes_leaked, _freed_by_clearing())


def test_small_view_of_large_storage_reports_the_storage() -> None:
    HELD.clear()
    with torchwarden.scope(mode="exact") as s:
        big = torch.randn(1024, 1024)
        HELD.append(big[:2])
        del big
    (leak,) = s.report.leaks
    assert leak.shape == (2, 1024) and leak.nbytes == 1024 * 1024 * 4
    _assert_close(s.report.bytes_leaked, _freed_by_clearing())
