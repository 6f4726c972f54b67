"""A torchrun run restarted after a rank is SIGKILLed keeps every attempt in its record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from torchwarden.report import validate_run_record
from torchwarden.runtime.attempts import KILLED
from torchwarden.runtime.stream import BATCH

# No process group: the restart itself is what is tested, not a collective library.
# Attempt 0: rank 1 SIGKILLs itself after 5 steps, rank 0 steps until torchrun stops it.
# Ranks leave on torchrun's SIGTERM through torchwarden.train.leave_promptly (which exits
# without unwinding, as it must while a rank waits in a collective): the record is still written.
RESTARTED = """\
import os, signal, time, torch
from torchwarden.train import leave_promptly
leave_promptly()
rank, attempt = int(os.environ["RANK"]), int(os.environ["TORCHELASTIC_RESTART_COUNT"])
model = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for step in range(5 if attempt else 2000):
    opt.zero_grad()
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    if attempt == 0 and rank == 1 and step == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.02)
"""


def test_every_attempt_is_recorded_with_the_rank_that_died(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(RESTARTED)
    cmd = [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--no-leak-check",
           "--out", "out", "--nproc-per-node", "2", "--max-restarts", "1", "train.py"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    validate_run_record(record)
    first, second = record["attempts"]
    assert (first["attempt"], first["ranks"], first["failed_rank"]) == (0, 2, 1)
    assert first["how"] == KILLED
    assert 5 - BATCH < first["step"] <= 5  # a SIGKILL loses at most one unwritten batch
    assert (second["attempt"], second["failed_rank"], second["how"]) == (1, None, None)
    assert record["status"] == "ok"
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Attempts" in page and "1 restart(s)" in page
    # the survivor of attempt 0 left on torchrun's SIGTERM and said so in its stream
    lines = [
        json.loads(x)
        for x in (tmp_path / "out" / "rank-0" / "events.jsonl").read_text().splitlines()
    ]
    ends = [e for e in lines if e.get("type") == "attempt" and e["event"] == "end"]
    assert [e["how"] for e in ends] == ["SIGTERM", "exit 0"]
    assert lines[-1] == {"type": "status", "status": "ok", "exit_code": 0}
    statuses = [e["status"] for e in lines if e.get("type") == "status"]
    assert statuses == ["interrupted", "ok"]  # attempt 0's record was written as it left
