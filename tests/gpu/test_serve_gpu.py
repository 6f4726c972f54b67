"""`torchwarden serve` on a GPU machine: NVML on the machine page and in /metrics, CUDA timelines."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("starlette")
pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from tests.web.conftest import start_serve, stop  # noqa: E402
from torchwarden.runtime.index import RunInfo, register  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

HOLDER = "import torch, time; x = torch.empty(2**30, dtype=torch.uint8, device='cuda'); print('ready', flush=True); time.sleep(60)"


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.read().decode()


def test_machine_page_and_metrics_show_the_gpus(tmp_path: Path) -> None:
    pytest.importorskip("pynvml", reason="the machine page reads GPUs through NVML (nvidia-ml-py)")
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        server = start_serve(tmp_path / "index", tmp_path / "leases")
        try:
            page = _get(f"{server.base}/")
            metrics = _get(f"{server.base}/metrics")
        finally:
            stop(server)
            holder.kill()
    assert 'Source: <span data-field="source">NVML' in page
    assert torch.cuda.get_device_name(0) in page
    assert f"{holder.pid} " in page  # the holder process is listed on its GPU
    totals = {
        s.labels["gpu"]: s.value
        for f in text_string_to_metric_families(metrics)
        for s in f.samples
        if s.name == "torchwarden_gpu_memory_total_bytes"
    }
    assert totals and all(v > 2**30 for v in totals.values())


def test_gpu_temperature_is_real_and_shown(tmp_path: Path) -> None:
    pytest.importorskip("pynvml", reason="temperatures are read through NVML (nvidia-ml-py)")
    server = start_serve(tmp_path / "index", tmp_path / "leases")
    try:
        machine = json.loads(_get(f"{server.base}/api/machine"))
        page = _get(f"{server.base}/")
        metrics = _get(f"{server.base}/metrics")
    finally:
        stop(server)
    temperatures = [g["temperature"] for g in machine["gpus"]]
    assert temperatures and all(isinstance(t, int) and 10 <= t <= 110 for t in temperatures), (
        temperatures
    )
    shown = [int(t) for t in re.findall(r">(\d+) °C</td>", page)]  # read a moment apart
    assert len(shown) == len(temperatures) and all(10 <= t <= 110 for t in shown), shown
    exposed = {
        s.labels["gpu"]: s.value
        for f in text_string_to_metric_families(metrics)
        for s in f.samples
        if s.name == "torchwarden_gpu_temperature_celsius"
    }
    assert set(exposed) == {str(g["index"]) for g in machine["gpus"]}
    assert all(10 <= v <= 110 for v in exposed.values())


def test_run_page_gets_cuda_memory_points(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    handle = register(
        RunInfo("cuda-run", "python x.py", out, gpus=(0,)), index_dir=tmp_path / "index"
    )
    lines = [
        {"schema": "torchwarden.events/1", "run": "cuda-run", "started_at": "2026-01-01T00:00:00Z"}
    ]
    x = torch.zeros(1, device="cuda")
    kept = []
    for step in range(1, 6):
        kept.append(torch.empty(2**20 * step, device="cuda"))
        x = x + 1
        memory = {"cuda:0": {"allocated": torch.cuda.memory_allocated(0),
                             "reserved": torch.cuda.memory_reserved(0),
                             "peak_allocated": torch.cuda.max_memory_allocated(0)}}  # fmt: skip
        lines.append(
            {"type": "step", "step": step, "rank": 0, "t": step, "time_s": 0.01, "memory": memory}
        )
    (out / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    server = start_serve(tmp_path / "index", tmp_path / "leases")
    points: list[list[object]] = []
    try:
        deadline = time.monotonic() + 30
        with urllib.request.urlopen(f"{server.base}/live/runs/{handle.id}", timeout=30) as stream:
            while time.monotonic() < deadline:
                line = stream.readline().decode()
                if line.startswith("data:"):
                    points = json.loads(line[5:])["points"]
                    break
    finally:
        stop(server)
        handle.finish("ok", 0)
    allocated = [p[3]["cuda:0"] for p in points]  # type: ignore[index]
    assert len(allocated) == 5 and allocated == sorted(allocated) and allocated[-1] > 15 * 2**20 * 4
