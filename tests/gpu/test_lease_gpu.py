"""A lease confines a child process to the leased GPUs (needs CUDA; skipped without it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from torchwarden.runtime.gpus import available_gpus, list_gpus  # noqa: E402
from torchwarden.runtime.lease import GpuRequest, acquire  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

CHILD = "import torch; print(torch.cuda.device_count()); print(torch.cuda.get_device_name(0))"


def _child(env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


@pytest.mark.parametrize("count", [1, 2])
def test_child_sees_exactly_the_leased_gpus(count: int, tmp_path: Path) -> None:
    available = available_gpus()
    if len(available) < count:
        pytest.skip(f"needs {count} GPUs, this machine shows {len(available)}")
    with acquire(GpuRequest(count), available=available, lease_dir=tmp_path) as lease:
        lines = _child(lease.env())
    assert int(lines[0]) == count
    listing = list_gpus()
    if listing.source == "nvml":  # CUDA_DEVICE_ORDER=PCI_BUS_ID makes torch agree with NVML
        by_index = {g.index: g.name for g in listing.gpus}
        assert lines[1] == by_index[lease.indices[0]]


def test_gpus_lists_memory_on_a_real_gpu() -> None:
    listing = list_gpus()
    assert listing.gpus, listing.problems
    assert all(0 <= g.memory_used <= g.memory_total for g in listing.gpus)
