"""`torchwarden run` feeds the run index, a live Prometheus endpoint and TensorBoard."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")
pytest.importorskip("tensorboard")

from prometheus_client.parser import text_string_to_metric_families

from torchwarden.runtime.index import list_runs

# Reads its own /metrics after ten steps, as Prometheus would while the run goes.
SCRIPT = """
import sys, urllib.request, torch
model = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(20):
    opt.zero_grad(); model(torch.randn(8, 4)).pow(2).mean().backward(); opt.step()
    if step == 10:
        port = int(sys.argv[1])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
            open("scraped.txt", "w").write(r.read().decode())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_tensorboard_and_index_follow_the_run(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    port = _free_port()
    env = {**os.environ, "TORCHWARDEN_INDEX": str(tmp_path / "index")}
    cmd = [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--out", "out"]
    cmd += ["--metrics-port", str(port), "--tensorboard", "tb", "train.py", str(port)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    families = {
        f.name: f for f in text_string_to_metric_families((tmp_path / "scraped.txt").read_text())
    }
    steps = families["torchwarden_steps"].samples
    assert steps and steps[0].value >= 5, steps  # live: scraped mid-run
    assert all("pid" not in s.labels for f in families.values() for s in f.samples)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*")), "no TensorBoard event file"
    rows = list_runs(index_dir=tmp_path / "index")
    assert [(r.name, r.status, r.exit_code) for r in rows] == [("train", "ok", 0)]
    assert rows[0].step >= 10


def test_a_taken_metrics_port_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('ran')\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--out", "out"]
        cmd += ["--metrics-port", str(port), "train.py"]
        env = {**os.environ, "TORCHWARDEN_INDEX": str(tmp_path / "index")}
        proc = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
        )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"--metrics-port {port}: cannot serve metrics there" in proc.stderr
    assert "Traceback" not in proc.stderr and "ran" not in proc.stdout
