"""Two torchrun agents (two "nodes") on one machine meet through c10d rendezvous."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from torchwarden.report import validate_run_record

STEPS = """\
import os, torch
model = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for _ in range(3):
    opt.zero_grad()
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
print("rank", os.environ["RANK"], "of", os.environ["WORLD_SIZE"], flush=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_agents_each_record_their_node_s_rank(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(STEPS)
    endpoint = f"127.0.0.1:{_free_port()}"
    base = [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--no-leak-check",
            "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-endpoint", endpoint]  # fmt: skip
    agents = [
        subprocess.Popen(
            [*base, "--out", f"node{i}", "train.py"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [a.communicate(timeout=300) for a in agents]
    assert [a.returncode for a in agents] == [0, 0], [err[-2000:] for _, err in outputs]
    ranks = set()
    for i in range(2):
        record = json.loads((tmp_path / f"node{i}" / "run.json").read_text())
        validate_run_record(record)
        assert record["status"] == "ok" and record["summary"]["steps"] == 3
        ranks |= {r["rank"] for r in record["ranks"]}
    assert ranks == {0, 1}  # one rank per node, each recorded where its agent ran
    assert "of 2" in outputs[0][0] + outputs[1][0]
