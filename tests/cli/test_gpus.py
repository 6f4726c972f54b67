"""`torchwarden gpus`: the table and the JSON, with a fake NVML standing in for the driver."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.fake_nvml import fake_nvml
from torchwarden.cli import cli
from torchwarden.runtime.lease import acquire, parse_gpu_request


@pytest.fixture
def lease_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("TORCHWARDEN_LEASE_DIR", str(tmp_path / "leases"))
    return tmp_path / "leases"


def test_table_shows_lease_holders(lease_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(2))
    monkeypatch.setenv("COLUMNS", "250")  # rich reads the width from here, not from click
    with acquire(parse_gpu_request("1,"), available=[0, 1], command="python train.py"):
        result = CliRunner().invoke(cli, ["gpus"])
    assert result.exit_code == 0, result.output
    assert "NVIDIA H100 80GB HBM3" in result.output and "1.0 GiB / 80.0 GiB" in result.output
    assert f"(pid {os.getpid()})" in result.output and "python train.py" in result.output
    assert "free" in result.output and "IEC" in result.output
    assert "40 °C" in result.output and "41 °C" in result.output


def test_json(lease_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(2))
    with acquire(parse_gpu_request("0,"), available=[0, 1], command="python train.py"):
        result = CliRunner().invoke(cli, ["gpus", "--json"])
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
    result = CliRunner().invoke(cli, ["gpus"])
    assert result.exit_code == 0
    assert result.output.startswith("No CUDA GPU visible (CUDA_VISIBLE_DEVICES='0'); NVML: ")
    assert "pip install nvidia-ml-py" in result.output
