"""The GPU listing and the GPUs a run may lease, with a fake NVML standing in for the driver."""

from __future__ import annotations

import os
import sys

import pytest

from tests.fake_nvml import GiB, fake_nvml
from torchwarden.env.gpus import from_nvml
from torchwarden.errors import RunError
from torchwarden.runtime.gpus import FAKE_GPU_COUNT_VAR, available_gpus, list_gpus, visible_indices


@pytest.fixture(autouse=True)
def _no_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_nvml_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(2))
    listing = list_gpus()
    assert listing.source == "nvml" and listing.driver == "580.1"
    assert [g.memory_used for g in listing.gpus] == [0, GiB]
    first = listing.gpus[0].processes
    assert first is not None and first[0].pid == os.getpid() and first[0].used_bytes == 2 * GiB
    assert first[0].name is not None  # psutil named this process


def test_temperature_is_read_and_unknown_where_the_board_does_not_say(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(4))
    assert [g.temperature for g in list_gpus().gpus] == [40, 41, 42, None]
    assert list_gpus().to_dict()["gpus"][1]["temperature"] == 41


def test_listing_and_fingerprint_read_the_same_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """One NVML reader: `torchwarden gpus` and `doctor` agree on every GPU."""
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(3))
    listing, fingerprint = list_gpus(), from_nvml()
    assert fingerprint["driver"] == {
        "version": "580.1",
        "cuda": "13.0",
        "source": "nvml",
        "error": None,
    }
    assert [(g.index, g.name, g.memory_total) for g in listing.gpus] == [
        (g["index"], g["name"], g["memory_bytes"]) for g in fingerprint["gpus"]
    ]
    assert fingerprint["gpus"][0]["compute_capability"] == "9.0"
    assert fingerprint["gpus"][0]["pcie"]["gen"] is None  # the fake board does not say


def test_without_nvml_the_reason_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml fails
    listing = list_gpus()
    assert "NVML: nvidia-ml-py is not installed (pip install nvidia-ml-py)" in listing.problems


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, [0, 1, 2, 3]), ("2,0", [2, 0]), ("1,x,2", [1]), ("", []), ("7", [])],
)
def test_visible_indices(
    value: str | None, expected: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    assert visible_indices(4) == expected


def test_available_gpus_respects_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(4))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert available_gpus() == [3, 1]


def test_fake_gpu_count_stands_in_for_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(4))
    monkeypatch.setenv(FAKE_GPU_COUNT_VAR, "2")
    assert available_gpus() == [0, 1]  # not the four NVML sees
    monkeypatch.setenv(FAKE_GPU_COUNT_VAR, "0")
    assert available_gpus() == []


@pytest.mark.parametrize("value", ["two", "-1", "1.5", ""])
def test_a_bad_fake_gpu_count_is_explained(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_GPU_COUNT_VAR, value)
    with pytest.raises(RunError, match=rf"{FAKE_GPU_COUNT_VAR}=.*number of stand-in GPUs"):
        available_gpus()
