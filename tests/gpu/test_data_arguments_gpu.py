"""The data API's argument checks on a real GPU: a missing device is named, not an assert."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchwarden.data import DevicePrefetcher, to_torch
from torchwarden.errors import DeviceUnavailableError

pytestmark = pytest.mark.gpu


def test_a_device_index_past_the_last_gpu_is_named() -> None:
    missing = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(DeviceUnavailableError, match=r"CUDA device\(s\) are visible"):
        to_torch(np.zeros(3, dtype=np.float32), device=missing)
    with pytest.raises(DeviceUnavailableError, match=r"CUDA device\(s\) are visible"):
        DevicePrefetcher([np.zeros(3)], missing)


def test_a_misaligned_array_reaches_the_gpu_intact() -> None:
    buf = np.zeros(16 * 4 + 1, dtype=np.uint8)
    a = buf[1:].view(np.complex128)
    a[:] = [1 + 2j, 3 + 4j, 5 + 6j, 7 + 8j]
    t = to_torch(a, device="cuda")
    assert t.device.type == "cuda"
    assert torch.equal(
        t.cpu(), torch.tensor([1 + 2j, 3 + 4j, 5 + 6j, 7 + 8j], dtype=torch.complex128)
    )
