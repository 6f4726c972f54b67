"""The machine page's GPUs as NVML reads them (a fake NVML in a real `serve` process)."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.web.conftest import Server, start_serve, stop

ROOT = Path(__file__).resolve().parents[2]
# `import pynvml` in the serve process gets tests/fake_nvml.py's stand-in for four GPUs
SHIM = "import sys\nfrom tests.fake_nvml import fake_nvml\nsys.modules[__name__] = fake_nvml(4)\n"


@pytest.fixture
def fake_gpus_server(tmp_path: Path) -> Any:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "pynvml.py").write_text(SHIM)
    env = {"PYTHONPATH": os.pathsep.join([str(shim), str(ROOT)])}
    server = start_serve(tmp_path / "index", tmp_path / "leases", env=env)
    yield server
    stop(server)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return str(answer.read().decode())


def _first_message(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as stream:
        for _ in range(100):  # "retry:" first, then the first message
            line = stream.readline().decode()
            if line.startswith("data:"):
                return dict(json.loads(line[5:]))
    raise AssertionError(f"no message from {url}")


def _column(table: dict[str, Any], name: str) -> list[str]:
    at = table["columns"].index(name)
    return [row[at]["text"] for row in table["rows"]]


def test_gpu_temperature_on_the_page_its_json_its_stream_and_metrics(
    fake_gpus_server: Server,
) -> None:
    base = fake_gpus_server.base
    page = _get(f"{base}/")
    machine = json.loads(_get(f"{base}/api/machine"))
    live = _first_message(f"{base}/live/machine")
    metrics = _get(f"{base}/metrics")
    # the fake's GPU h reads 40 + h degrees; GPU 3's sensor query fails
    assert all(f"<td>{40 + h} °C</td>" in page for h in range(3)), page
    assert machine["schema"] == "torchwarden.machine/1"
    assert [g["temperature"] for g in machine["gpus"]] == [40, 41, 42, None]
    assert _column(live["gpus"], "temp") == ["40 °C", "41 °C", "42 °C", "—"]
    temperatures = {
        s.labels["gpu"]: s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
        if s.name == "torchwarden_gpu_temperature_celsius"
    }
    assert temperatures == {"0": 40.0, "1": 41.0, "2": 42.0}  # unknown: no sample, not 0


def test_a_hot_gpu_is_marked_and_an_unknown_temperature_is_a_dash(tmp_path: Path) -> None:
    from torchwarden.runtime.gpus import Gpu, GpuListing
    from torchwarden.web.machine import machine_tables

    gpus = (
        Gpu(0, "hot", 1, 2, 100, (), 91),
        Gpu(1, "cool", 1, 2, 0, (), 35),
        Gpu(2, "?", 1, 2, 0, ()),
    )
    listing = GpuListing("nvml", gpus, "580.1", ())
    table = machine_tables(lambda: listing, tmp_path / "leases", tmp_path / "index")["gpus"]
    at = table["columns"].index("temp")
    cells = [(row[at]["text"], row[at]["cls"]) for row in table["rows"]]
    assert cells == [("91 °C", "warn"), ("35 °C", None), ("—", None)]
