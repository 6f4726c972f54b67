"""`torchwarden gpus` and the GPU listing, with a fake NVML standing in for the driver."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from torchwarden.cli.gpus import gpus
from torchwarden.runtime.gpus import available_gpus, list_gpus, visible_indices
from torchwarden.runtime.lease import acquire, parse_gpu_request

GiB = 1 << 30


class FakeNVMLError(Exception):
    pass


def fake_nvml(count: int) -> types.ModuleType:
    """The part of pynvml that env.gpus reads, answering for ``count`` H100s."""
    nvml = types.ModuleType("pynvml")
    me = types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=2 * GiB)
    functions = {
        "NVMLError": FakeNVMLError,
        "nvmlInit": lambda: None,
        "nvmlShutdown": lambda: None,
        "nvmlSystemGetDriverVersion": lambda: b"580.1",
        "nvmlSystemGetCudaDriverVersion": lambda: 13000,
        "nvmlDeviceGetCudaComputeCapability": lambda h: (9, 0),
        "nvmlDeviceGetCount": lambda: count,
        "nvmlDeviceGetHandleByIndex": lambda i: i,
        "nvmlDeviceGetName": lambda h: "NVIDIA H100 80GB HBM3",
        "nvmlDeviceGetMemoryInfo": lambda h: types.SimpleNamespace(used=h * GiB, total=80 * GiB),
        "nvmlDeviceGetUtilizationRates": lambda h: types.SimpleNamespace(gpu=10 * h),
        "nvmlDeviceGetComputeRunningProcesses": lambda h: [me] if h == 0 else [],
    }
    for name, value in functions.items():
        setattr(nvml, name, value)
    return nvml


@pytest.fixture
def lease_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("TORCHWARDEN_LEASE_DIR", str(tmp_path / "leases"))
    return tmp_path / "leases"


def test_nvml_listing(lease_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(2))
    listing = list_gpus()
    assert listing.source == "nvml" and listing.driver == "580.1"
    assert [g.memory_used for g in listing.gpus] == [0, GiB]
    first = listing.gpus[0].processes
    assert first is not None and first[0].pid == os.getpid() and first[0].used_bytes == 2 * GiB


def test_cli_table_shows_lease_holders(lease_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(2))
    monkeypatch.setenv("COLUMNS", "250")  # rich reads the width from here, not from click
    with acquire(parse_gpu_request("1,"), available=[0, 1], command="python train.py"):
        result = CliRunner().invoke(gpus, [])
    assert result.exit_code == 0, result.output
    assert "NVIDIA H100 80GB HBM3" in result.output and "1.0 GiB / 80.0 GiB" in result.output
    assert f"(pid {os.getpid()})" in result.output and "python train.py" in result.output
    assert "free" in result.output and "IEC" in result.output


def test_cli_json(lease_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(2))
    with acquire(parse_gpu_request("0,"), available=[0, 1], command="python train.py"):
        result = CliRunner().invoke(gpus, ["--json"])
    record = json.loads(result.output)
    assert record["schema"] == "torchwarden.gpus/1"
    assert record["gpus"][0]["lease"]["command"] == "python train.py"
    assert record["gpus"][1]["lease"] is None
    assert record["gpus"][1]["utilization"] == 10


def test_no_gpu_is_a_clear_message(lease_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml fails
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("COLUMNS", "300")
    result = CliRunner().invoke(gpus, [])
    assert result.exit_code == 0
    assert result.output.startswith("No CUDA GPU visible (CUDA_VISIBLE_DEVICES='0'); NVML: ")
    assert "pip install nvidia-ml-py" in result.output


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, [0, 1, 2, 3]), ("2,0", [2, 0]), ("1,x,2", [1]), ("", []), ("7", [])],
)
def test_visible_indices(
    value: str | None, expected: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    assert visible_indices(4) == expected


def test_available_gpus_respects_visible_devices(
    lease_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(4))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert available_gpus() == [3, 1]
