"""On a GPU: an OOM verdict under --memory-fraction, and a compiled loop with inductor on CUDA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
RUN = [sys.executable, "-m", "torchwarden", "run", "--no-progress"]
BY_STEPS = {**os.environ, "TORCHWARDEN_EXAM_BUDGET": "1"}

OOM_LEAK = """\
import torch
from torch import nn
model = nn.Linear(1024, 1024).cuda()
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
hoard = []
for step in range(400):
    out = model(torch.randn(64, 1024, device="cuda"))
    out.pow(2).mean().backward()
    opt.step()
    opt.zero_grad()
    hoard.append(torch.empty(256 * 1024 * 1024, dtype=torch.uint8, device="cuda"))  # SITE
"""

COMPILED = """\
import torch
from torch import nn
from torch._dynamo.utils import counters
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 8)).cuda()
cmodel = torch.compile(model, backend="inductor")
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
hist = []
for step in range(40):
    out = cmodel(torch.randn(32, 64, device="cuda"))
    loss = out.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    hist.append(out)
print("compiled", counters["stats"]["unique_graphs"], sum(counters["graph_break"].values()))
"""


def test_oom_verdict_reasons_against_the_memory_fraction(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(OOM_LEAK)
    proc = subprocess.run(
        [*RUN, "--memory-fraction", "0.1", "--out", "o", "train.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=BY_STEPS,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    record = json.loads((tmp_path / "o" / "run.json").read_text())
    (oom,) = [f for f in record["findings"] if f["kind"] == "oom"]
    assert oom["memory_fraction"] == pytest.approx(0.1)
    assert "this run may use" in oom["verdict"] and "0.1 of" in oom["verdict"], oom["verdict"]
    assert "--memory-fraction" in oom["fix"]
    total = torch.cuda.get_device_properties(0).total_memory
    assert oom["limit_bytes"] <= 0.11 * total
    sited = [t for t in oom["top_tensors"] if t["site"] == "train.py:11"]
    assert sited, oom["top_tensors"]


def test_compiled_inductor_loop_on_cuda_same_graphs_and_leak_named(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(COMPILED)
    plain = subprocess.run(
        [sys.executable, "train.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    governed = subprocess.run(
        [*RUN, "--out", "o", "train.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=BY_STEPS,
    )  # fmt: skip
    assert plain.returncode == governed.returncode == 0, governed.stderr
    counts = [
        next(x for x in p.stdout.splitlines() if x.startswith("compiled"))
        for p in (plain, governed)
    ]
    assert counts[0] == counts[1], counts
    record = json.loads((tmp_path / "o" / "run.json").read_text())
    assert [f["holder"] for f in record["findings"] if f["kind"] == "leak"] == ["global hist"]
