"""Bad arguments to the data API: a TorchwardenError that names the fix, at the call."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from torchwarden.data import DevicePrefetcher, to_numpy, to_torch
from torchwarden.errors import DataArgumentError, DeviceUnavailableError, TorchwardenError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")


@no_cuda
def test_cuda_without_cuda_is_refused() -> None:
    x = np.zeros(3, dtype=np.float32)
    with pytest.raises(DeviceUnavailableError, match=r"CUDA is not available here.*device='cpu'"):
        to_torch(x, device="cuda")
    with pytest.raises(DeviceUnavailableError, match=r"CUDA is not available"):
        to_torch(torch.zeros(3), device=0)
    with pytest.raises(DeviceUnavailableError, match=r"DevicePrefetcher: device='cuda'"):
        DevicePrefetcher([x], "cuda")


def test_wrong_types_are_refused_at_the_call() -> None:
    with pytest.raises(DataArgumentError, match=r"to_numpy\(str\): expects a torch.Tensor"):
        to_numpy("x")  # type: ignore[arg-type]
    with pytest.raises(
        DataArgumentError, match=r"DevicePrefetcher\(NoneType\): expects an iterable"
    ):
        DevicePrefetcher(None, "cpu")  # type: ignore[arg-type]
    with pytest.raises(DataArgumentError, match=r"device='gpu' is not a device"):
        to_torch(np.zeros(2), device="gpu")
    with pytest.raises(DataArgumentError, match=r"holds <U1 data, not numbers"):
        to_torch("x")
    with pytest.raises(TorchwardenError, match=r"depth must be >= 1, an int"):
        DevicePrefetcher([], "cpu", depth=0)
    assert issubclass(DataArgumentError, TypeError)  # code catching TypeError still does


def _misaligned() -> tuple[np.ndarray, np.ndarray]:
    buf = np.zeros(16 * 4 + 1, dtype=np.uint8)
    a = buf[1:].view(np.complex128)  # starts one byte past an aligned address
    a[:] = [1 + 2j, 3 + 4j, 5 + 6j, 7 + 8j]
    assert not a.flags.aligned
    return buf, a


def test_a_misaligned_complex_array_is_copied_not_shared() -> None:
    buf, a = _misaligned()
    before = buf.copy()
    t = to_torch(a)
    assert t.data_ptr() != a.ctypes.data
    t.mul_(2)  # writing to the result must neither crash nor reach the original
    assert torch.equal(
        t, torch.tensor([2 + 4j, 6 + 8j, 10 + 12j, 14 + 16j], dtype=torch.complex128)
    )
    assert np.array_equal(buf, before)


def test_writing_through_a_misaligned_copy_does_not_crash_the_process() -> None:
    code = (
        "import numpy as np, torch\n"
        "from torchwarden.data import to_torch\n"
        "a = np.zeros(16 * 1024 + 1, dtype=np.uint8)[1:].view(np.complex128)\n"
        "t = to_torch(a)\n"
        "t[0] = 1 + 1j\n"  # segfaulted when the misaligned memory was shared
        "t.add_(1 + 1j); t.mul_(t); print(complex(t.sum()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "2054j"  # (2+2j)² + 1023 · (1+1j)² = 8j + 2046j
