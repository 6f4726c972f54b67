"""Under --nproc-per-node the run's index row follows the ranks as they go, not only at the end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from torchwarden.runtime.index import RunRow, list_runs

# Two gloo ranks step together; after step 3 rank 0 waits for the gate file (bounded),
# so rank 1 waits in the next all_reduce: the run stalls until the test opens the gate.
GATED_RANKS = """\
import pathlib, sys, time
import torch, torch.distributed as dist
import torchwarden
dist.init_process_group("gloo")
gate = pathlib.Path(sys.argv[1])
t = torch.ones(1)
for step in range(1, 7):
    dist.all_reduce(t)
    torchwarden.step()
    if step == 3 and dist.get_rank() == 0:
        for _ in range(3000):
            if gate.exists():
                break
            time.sleep(0.1)
dist.destroy_process_group()
"""


def _row(index: Path) -> RunRow | None:
    rows = list_runs(index_dir=index)
    return rows[0] if rows else None


@pytest.mark.slow
def test_the_row_shows_the_ranks_steps_while_they_run(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(GATED_RANKS)
    index, gate = tmp_path / "index", tmp_path / "go"
    env = {**os.environ, "TORCHWARDEN_INDEX": str(index)}
    command = [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--no-report",
               "--nproc-per-node", "2", "--out", "ddp", "train.py", str(gate)]  # fmt: skip
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline, row = time.monotonic() + 180, None
        while time.monotonic() < deadline and proc.poll() is None:
            row = _row(index)
            if row is not None and (row.step or 0) > 1:
                break
            time.sleep(0.2)
        assert row is not None and (row.step or 0) > 1, (
            f"the index row did not show a step past 1 while the ranks ran: {row}"
        )
        assert row.status == "running" and proc.poll() is None  # seen live, not at the end
        assert row.step_time_s is not None and (row.peak_bytes or 0) > 2**20
        assert row.pid == proc.pid and row.last_step_at is not None
        gate.touch()
        _, err = proc.communicate(timeout=180)
    finally:
        gate.touch()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    final = _row(index)
    assert final is not None and (final.status, final.exit_code, final.step) == ("ok", 0, 6)
    assert final.findings == 0
