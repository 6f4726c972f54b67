"""``torchwarden doctor`` on a real GPU machine: every probe passes, NVML agrees with torch.

Needs CUDA; every test is skipped cleanly without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
SRC = Path(__file__).resolve().parents[2] / "src"
# how long the doctor takes is printed here and measured by benchmarks/doctor_speed.py
# (budgets: --quick < 5 s, full < 60 s); a loaded machine must not fail a test over it


def doctor(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "COLUMNS": "200"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(SRC), env.get("PYTHONPATH"))))
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "torchwarden", "doctor", *args],
                          capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    return done, time.monotonic() - start


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], int, float]:
    path = tmp_path_factory.mktemp("doctor") / "gpu.json"
    done, seconds = doctor("--json", str(path))
    print(done.stdout[-6000:], done.stderr[-2000:], f"full doctor: {seconds:.1f} s", sep="\n")
    return json.loads(path.read_text()), done.returncode, seconds


def probes(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["probe"]: p for p in report["probes"]}


def test_full_doctor_passes(full_run: tuple[dict[str, Any], int, float]) -> None:
    report, code, _ = full_run
    failed_probes = [p for p in report["probes"] if p["status"] == "fail"]
    assert failed_probes == [], failed_probes
    # the GPU stack itself must be right; host rules (e.g. a container's small /dev/shm) may
    # rightly fail on a given machine, and then the exit code must say so
    verdicts = {r["rule"]: r["verdict"] for r in report["rules"]}
    assert {verdicts[k] for k in ("torch", "driver-cuda", "arch-list", "numpy-abi")} == {"ok"}
    print(
        "rule findings:",
        [
            (r["rule"], r["verdict"], r["message"])
            for r in report["rules"]
            if r["verdict"] in ("warn", "fail")
        ],
    )
    assert code == (2 if report["summary"]["fail"] else 0)


def test_every_probe_ran_on_the_gpu(full_run: tuple[dict[str, Any], int, float]) -> None:
    found = probes(full_run[0])
    assert {name for name, p in found.items() if p["status"] == "skip"} == set()
    assert f"on {torch.cuda.device_count()} GPU(s)" in found["kernel"]["message"]
    assert found["compile"]["details"]["device"] == "cuda:0"
    assert found["compile"]["details"]["compilations"] <= 2
    assert "nccl" in found["distributed"]["details"]["backends"]
    assert found["dataloader"]["details"]["pin_memory"] is True


def test_bandwidth_is_plausible(full_run: tuple[dict[str, Any], int, float]) -> None:
    gbps = probes(full_run[0])["bandwidth"]["details"]["gbps"]["cuda:0"]
    print("bandwidth GB/s:", gbps)
    assert gbps["h2d_pinned"] > 5 and gbps["h2d_pageable"] > 1
    assert gbps["h2d_pinned"] > gbps["h2d_pageable"]  # pinning is why pinned memory exists


def test_nvml_agrees_with_torch(full_run: tuple[dict[str, Any], int, float]) -> None:
    fp = full_run[0]["fingerprint"]
    assert fp["driver"]["version"] and fp["driver"]["source"] in ("nvml", "nvidia-smi")
    assert (
        fp["torch"]["cuda"] == torch.version.cuda and fp["torch"]["cudnn"] and fp["torch"]["nccl"]
    )
    if "CUDA_VISIBLE_DEVICES" not in os.environ:  # NVML lists physical GPUs, torch visible ones
        by_nvml = [(g["name"], g["compute_capability"]) for g in fp["gpus"]]
        by_torch = [(d["name"], d["compute_capability"]) for d in fp["torch"]["devices"]]
        assert by_nvml == by_torch
    rules = {r["rule"]: r["verdict"] for r in full_run[0]["rules"]}
    assert rules["driver-cuda"] == "ok" and rules["arch-list"] == "ok"


def test_quick_doctor_on_gpu_passes(tmp_path: Path) -> None:
    done, seconds = doctor("--quick", "--json", str(tmp_path / "quick.json"))
    print(f"doctor --quick: {seconds:.1f} s")
    report = json.loads((tmp_path / "quick.json").read_text())
    assert [p for p in report["probes"] if p["status"] == "fail"] == [], done.stdout
    assert probes(report)["kernel"]["status"] == "ok"
