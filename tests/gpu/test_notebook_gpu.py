"""The notebook extension on CUDA: holders named, and release measured by the allocator."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.notebook.kernel import Kernel, running

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
MIB_256 = "torch.zeros(64, 1024, 1024, device='cuda')"  # float32: 256 MiB
ALLOCATED = "print(torch.cuda.memory_allocated())"


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    with running(
        tmp_path, "import torch\n%load_ext torchwarden\ntorch.zeros(1, device='cuda');"
    ) as k:
        yield k


def test_cuda_holders_are_named_with_their_device(kernel: Kernel) -> None:
    cell = kernel.ok(f"outputs = {MIB_256}")
    assert "outputs 256 MiB (In[2]:1)" in cell.report, cell.report
    listed = kernel.ok("%tw").report
    assert re.search(r"^  outputs +1 +256 MiB +— +cuda:0 +In\[2\]:1$", listed, re.M), listed


def test_release_returns_cuda_memory_by_the_allocators_count(kernel: Kernel) -> None:
    before = int(kernel.ok(ALLOCATED).stdout)
    kernel.ok(f"outputs = {MIB_256}")
    kernel.ok(f"{MIB_256}")  # held by Out and _
    kernel.run(f"def f():\n    h = {MIB_256}\n    raise ValueError\nf()")
    assert int(kernel.ok(ALLOCATED).stdout) - before == 3 * 256 * 2**20
    cell = kernel.ok("%tw release outputs Out traceback")
    found = re.search(
        r"cuda:0 768 MiB allocated, ([\d.]+) (MiB|GiB) returned to the device", cell.report
    )
    assert found is not None, cell.report
    returned = float(found.group(1)) * (1024 if found.group(2) == "GiB" else 1)
    assert returned >= 768, cell.report  # empty_cache gave the freed segments back
    assert int(kernel.ok(ALLOCATED).stdout) == before


def test_a_graph_on_cuda_is_counted_and_released(kernel: Kernel) -> None:
    kernel.ok("w = torch.randn(4096, 4096, device='cuda', requires_grad=True)")  # 64 MiB
    cell = kernel.ok("loss = (w * 2).sin().sum()")  # sin() saves its 64 MiB input
    assert re.search(r"loss 4 B \+64\.0 MiB graph \(In\[3\]:1\)", cell.report), cell.report
    released = kernel.ok("%tw release loss").report
    assert "cuda:0 64.0 MiB allocated" in released, released
