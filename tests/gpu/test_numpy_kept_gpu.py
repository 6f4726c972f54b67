"""A CUDA tensor kept through ``.cpu().numpy()``: the copy on the host is what leaks.

``x.cpu()`` of a CUDA tensor allocates host memory at that line, so the site is the
line of the copy (not of ``x``), the device is the CPU, and the holder is the array's
container. ``numpy(force=True)`` copies too: the same answer.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torchwarden
from tests.lifecycle.helpers import only_leak, site

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
MOD = __name__
ARRAYS: list[np.ndarray] = []
NOTE = "(numpy array sharing its storage)"


def test_cuda_tensor_copied_to_host_and_kept_as_array() -> None:
    ARRAYS.clear()
    x = torch.randn(256, 64, device="cuda")
    with torchwarden.scope(mode="exact") as s:
        ARRAYS.append((x * 2).cpu().numpy())  # SITE:copy
    leak = only_leak(s.report)
    assert leak.holder == f"{MOD}.ARRAYS[0] {NOTE}"
    assert leak.site == site(__file__, "SITE:copy")
    assert leak.device == "cpu" and leak.nbytes == 256 * 64 * 4
    ARRAYS.clear()


def test_numpy_force_of_a_cuda_tensor() -> None:
    ARRAYS.clear()
    x = torch.randn(128, device="cuda", requires_grad=True)
    with torchwarden.scope(mode="exact") as s:
        ARRAYS.append(x.numpy(force=True))  # SITE:force
    leak = only_leak(s.report)
    assert leak.holder == f"{MOD}.ARRAYS[0] {NOTE}"
    assert leak.site == site(__file__, "SITE:force")
    assert leak.device == "cpu"
    ARRAYS.clear()
