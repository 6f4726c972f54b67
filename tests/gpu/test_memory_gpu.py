"""The one reader of the CUDA allocator agrees with torch.cuda's own accessors."""

from __future__ import annotations

import pytest
import torch

import torchwarden
from torchwarden.memory.counters import allocator_triples

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_device_stats_match_torch_cuda() -> None:
    x = torch.ones(1024, 1024, device="cuda")
    m = torchwarden.memory.device_stats(0)
    assert m.device == "cuda:0" and m == torchwarden.memory.device_stats("cuda:0")
    assert m.allocated == torch.cuda.memory_allocated(0) >= x.nbytes
    assert m.reserved == torch.cuda.memory_reserved(0) >= m.allocated
    assert m.peak_allocated == torch.cuda.max_memory_allocated(0)
    assert m.active >= x.nbytes
    assert 0 <= m.inactive_split <= m.reserved - m.allocated
    del x


def test_step_counters_are_the_same_numbers() -> None:
    x = torch.ones(256, 256, device="cuda")
    allocated, reserved, peak = allocator_triples()[0]
    assert allocated == torch.cuda.memory_allocated(0) and reserved == torch.cuda.memory_reserved(0)
    assert peak == torch.cuda.max_memory_allocated(0)
    del x
