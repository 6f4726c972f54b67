"""Real run directories for the web tests, written the way the runtime streams them.

A small torch loop really trains; each step's time and memory go to ``events.jsonl``
in the agreed stream format (``torchwarden.events/1``) and to the run index, as the
runner will do. ``run.json``, ``report.html`` and a real leak finding come from a
real ``torchwarden run`` of a leaking script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import torch
from torch import nn

from tests.runtime.scripts import LEAK_LIST
from torchwarden.runtime.index import RunHandle, RunInfo, register


class StreamedRun:
    """A run directory being written, with its row in the index."""

    def __init__(self, out_dir: Path, index: Path, name: str = "train", **info: Any) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self.events = out_dir / "events.jsonl"
        self.handle: RunHandle = register(
            RunInfo(name=name, command=f"python {name}.py", out_dir=out_dir, **info),
            index_dir=index,
            min_interval_s=0,
        )
        self.t0 = time.perf_counter()
        self.step = 0
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.append({"schema": "torchwarden.events/1", "run": name, "started_at": started})
        torch.manual_seed(0)
        self.model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 1))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=1e-3)

    def append(self, record: dict[str, Any]) -> None:
        """One line of the stream, and the same event to the index (as the runtime will)."""
        with self.events.open("a") as f:
            f.write(json.dumps(record) + "\n")
        self.handle.observe(record)

    def train(self, steps: int) -> None:
        """``steps`` real optimizer steps, each recorded as the runtime records one."""
        for _ in range(steps):
            start = time.perf_counter()
            loss = self.model(torch.randn(32, 16)).pow(2).mean()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            self.step += 1
            rss = psutil.Process().memory_info().rss
            self.append({
                "type": "step", "step": self.step, "rank": 0, "t": time.perf_counter() - self.t0,
                "time_s": time.perf_counter() - start,
                "memory": {"cpu": {"rss": rss, "tensor_bytes": None}},
            })  # fmt: skip

    def finding(self, finding: dict[str, Any]) -> None:
        self.append({"type": "finding", **finding})

    def end(self, status: str = "ok", exit_code: int = 0) -> None:
        self.append({"type": "status", "status": status, "exit_code": exit_code})


def real_run(directory: Path) -> Path:
    """Run a leaking script under ``torchwarden run``; the run directory it wrote."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "train.py").write_text(LEAK_LIST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHWARDEN_")}
    proc = subprocess.run(
        [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--out", "out", "train.py"],
        cwd=directory, capture_output=True, text=True, timeout=240, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return directory / "out"


def leak_finding(run_dir: Path) -> dict[str, Any]:
    record = json.loads((run_dir / "run.json").read_text())
    return next(f for f in record["findings"] if f["kind"] == "leak")
