"""`torchwarden run` on a real GPU: OOM forensics, transfer audit, leases, the example."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from torchwarden.findings import OOMFinding, finding_from_dict
from torchwarden.report import validate_run_record

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
RUN = [sys.executable, "-m", "torchwarden", "run", "--no-progress"]

OOM = """\
import torch
keep = []
for step in range(1000):
    keep.append(torch.empty(512 * 1024 * 1024, dtype=torch.uint8, device="cuda"))
    print("allocated", len(keep), flush=True)
"""

SYNCS = """\
import torch
import torchwarden
x = torch.ones(1024, device="cuda")
for step in range(4):
    value = (x * step).sum().item()
    host = x.cpu()
    torchwarden.step()
"""

LEASED = """\
import os, torch
print("visible", os.environ.get("CUDA_VISIBLE_DEVICES"), torch.cuda.device_count(), flush=True)
"""


def _run(
    tmp_path: Path, source: str, *opts: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    (tmp_path / "job.py").write_text(source)
    proc = subprocess.run(
        [*RUN, *opts, "--out", "out", "job.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    validate_run_record(record)
    return proc, record


def test_oom_under_memory_fraction_is_explained(tmp_path: Path) -> None:
    proc, record = _run(tmp_path, OOM, "--memory-fraction", "0.05")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "OutOfMemoryError" in proc.stderr
    assert record["status"] == "oom"
    oom = record["findings"][0]
    assert oom["kind"] == "oom" and oom["requested_bytes"] == 512 * 1024 * 1024
    assert "not enough memory" in oom["verdict"]
    assert oom["top_tensors"] and oom["top_tensors"][0]["holder"].startswith("global keep[")
    assert oom["top_tensors"][0]["nbytes"] == 512 * 1024 * 1024
    total = torch.cuda.get_device_properties(0).total_memory
    assert oom["limit_bytes"] == pytest.approx(0.05 * total, rel=0.01)  # the --memory-fraction cap
    typed = finding_from_dict(oom)
    assert isinstance(typed, OOMFinding) and typed.top_tensors[0].shape == (512 * 1024 * 1024,)
    snapshot = tmp_path / "out" / oom["snapshot"]
    with open(snapshot, "rb") as f:
        data = pickle.load(f)
    assert data.get("segments")
    assert record["artifacts"]["snapshot"] == "oom_snapshot.pickle"


def test_audit_counts_cuda_syncs_and_copies(tmp_path: Path) -> None:
    proc, record = _run(tmp_path, SYNCS, "--audit-transfers")
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = record["steps"]
    assert len(steps) == 4
    assert all(s["transfers"]["syncs"] >= 2 for s in steps), steps
    assert all(s["transfers"]["d2h"] >= 1 for s in steps)
    assert "cuda:0" in steps[0]["memory"]


def test_lease_sets_visible_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHWARDEN_LEASE_DIR", str(tmp_path / "leases"))
    proc, record = _run(tmp_path, LEASED, "--gpus", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("visible"))
    _, visible, count = line.split()
    assert visible.isdigit() and count == "1"
    assert record["environment"]["cuda_visible_devices"] == visible


def test_bundled_example_on_gpu(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*RUN, "--out", "ex", "-m", "torchwarden.examples.transformer", "--steps", "60"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((tmp_path / "ex" / "run.json").read_text())
    assert record["summary"]["steps"] == 60
    assert "cuda:0" in record["summary"]["peak_memory"]
    assert not [f for f in record["findings"] if f["kind"] == "leak"], record["findings"]
