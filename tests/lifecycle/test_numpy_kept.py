"""A tensor kept through ``.numpy()``: the array's container holds it, the tensor's line made it.

``Tensor.numpy()`` keeps the tensor's memory alive through a hidden base tensor that
the garbage collector cannot connect to the array; the report must still name the
user's container and the line that made the data.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
from torch import nn

import torchwarden
from tests.lifecycle.helpers import only_leak, site
from torchwarden.memory.heap import heap_in_use, heap_source

MOD = __name__
ARRAYS: list[np.ndarray] = []
NOTE = "(numpy array sharing its storage)"


def here(marker: str) -> str:
    return site(__file__, marker)


def test_array_of_a_cpu_tensor_names_the_list_and_the_tensors_line() -> None:
    ARRAYS.clear()
    with torchwarden.scope(mode="exact") as s:
        x = torch.randn(100, 10) * 2  # SITE:tensor
        ARRAYS.append(x.cpu().numpy())  # SITE:kept
        del x
    leak = only_leak(s.report)
    assert leak.holder == f"{MOD}.ARRAYS[0] {NOTE}"
    # an alias, reported as a view is: its own line, and the line that made its storage
    assert (leak.site, leak.storage_site) == (here("SITE:kept"), here("SITE:tensor"))
    assert f"storage allocated at {here('SITE:tensor')}" in leak.message
    assert leak.nbytes == 100 * 10 * 4 and leak.shape == (100, 10)
    assert "held from C++" not in leak.message
    assert f"drop it from {MOD}.ARRAYS[0] when done" in leak.fix
    ARRAYS.clear()


def test_np_asarray_of_a_tensor_is_the_same_case() -> None:
    ARRAYS.clear()
    with torchwarden.scope(mode="exact") as s:
        x = torch.randn(300, 10) + 1  # SITE:asarray
        ARRAYS.append(np.asarray(x))  # SITE:asarray-kept
        del x
    leak = only_leak(s.report)
    assert leak.holder == f"{MOD}.ARRAYS[0] {NOTE}"
    assert (leak.site, leak.storage_site) == (here("SITE:asarray-kept"), here("SITE:asarray"))
    ARRAYS.clear()


def test_detached_loss_kept_as_array_gets_its_line_and_the_loss_line() -> None:
    model = nn.Linear(16, 1)
    ARRAYS.clear()
    with torchwarden.scope(mode="exact") as s:
        for _ in range(3):
            loss = model(torch.randn(8, 16)).pow(2).mean()  # SITE:loss
            loss.backward()
            ARRAYS.append(loss.detach().numpy())  # SITE:loss-kept
        del loss
    assert len(s.report.leaks) == 3, str(s.report)
    holders = sorted(leak.holder for leak in s.report.leaks)
    assert holders == [f"{MOD}.ARRAYS[{i}] {NOTE}" for i in range(3)]
    assert {leak.site for leak in s.report.leaks} == {here("SITE:loss-kept")}
    assert {leak.storage_site for leak in s.report.leaks} == {here("SITE:loss")}
    assert not any(leak.retains_graph for leak in s.report.leaks)
    ARRAYS.clear()


def test_array_bound_to_a_name_in_the_block_is_a_result() -> None:
    with torchwarden.scope(mode="exact") as s:
        arr = (torch.randn(64) + 1).numpy()
    assert s.report.ok, str(s.report)
    assert arr.shape == (64,)


def test_array_rebound_each_iteration_leaks_nothing() -> None:
    with torchwarden.scope(mode="exact") as s:
        total = 0.0
        for _ in range(5):
            arr = torch.randn(32).numpy()
            total += float(arr.sum())
        del arr
    assert s.report.ok, str(s.report)


def test_array_registry_forgets_arrays_that_died() -> None:
    from torchwarden.lifecycle.arrays import arrays

    with torchwarden.scope(mode="exact"):
        before = len(arrays)
        kept = [torch.randn(4).numpy() for _ in range(10)]
        during = len(arrays)
        del kept
        gc.collect()
    assert during == before + 10
    assert len(arrays) == before


@pytest.mark.skipif(heap_source() != "glibc", reason="needs glibc's mallinfo2")
def test_reported_bytes_are_what_dropping_the_arrays_frees() -> None:
    ARRAYS.clear()
    with torchwarden.scope(mode="exact") as s:
        for _ in range(4):
            ARRAYS.append(torch.randn(512, 256).numpy())
    assert len(s.report.leaks) == 4, str(s.report)
    gc.collect()
    before = heap_in_use()
    ARRAYS.clear()
    gc.collect()
    freed = before - heap_in_use()
    assert freed > 1 << 20, freed
    assert abs(s.report.bytes_leaked - freed) <= 0.10 * freed, (s.report.bytes_leaked, freed)
