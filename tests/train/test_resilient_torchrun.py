"""Exact resume: a 2-rank gloo run SIGKILLed at random steps equals one never killed.

``torchwarden run --nproc-per-node 2 --max-restarts 3`` (torchrun underneath) restarts
the workers after each SIGKILL of rank 1; they resume from the newest checkpoint that
verifies. Final weights and the per-step loss curve must equal those of an uninterrupted
plain ``torchrun`` run bit for bit, and the run's record keeps every attempt. Both runs
go at once.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

STEPS = 30


def _torchrun(out: Path, kill_at: list[int], *, governed: bool) -> subprocess.Popen[bytes]:
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    if governed:  # torchwarden run sets a fresh rendezvous store per attempt itself
        cmd = [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--no-leak-check"]
        cmd += ["--nproc-per-node", "2", "--out", str(out / "record")]
    else:
        # A fresh rendezvous store per attempt: with the agent's store shared across
        # attempts, restarted gloo workers may read the dead attempt's addresses.
        env["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] = "1"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        cmd += ["--nproc-per-node", "2"]
    cmd += ["--max-restarts", str(len(kill_at)), "-m", "torchwarden.examples.resilient"]
    cmd += ["--out", str(out), "--steps", str(STEPS), "--kill-at", ",".join(map(str, kill_at))]
    with open(out / "torchrun.log", "wb") as log:  # the child keeps its own copy of the fd
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def _finish(proc: subprocess.Popen[bytes], out: Path) -> dict[str, torch.Tensor]:
    rc = proc.wait(timeout=280)
    assert rc == 0, (out / "torchrun.log").read_text()[-4000:]
    final: dict[str, torch.Tensor] = torch.load(out / "final.pt", weights_only=True)
    return final


@pytest.mark.slow
def test_killed_run_equals_uninterrupted_run_bit_for_bit(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kill_at = [rng.randrange(lo, lo + 8) for lo in (3, 12, 21)]  # three kills, spaced
    killed = _torchrun(tmp_path / "killed", kill_at, governed=True)
    reference = _torchrun(tmp_path / "reference", [], governed=False)
    got, want = _finish(killed, tmp_path / "killed"), _finish(reference, tmp_path / "reference")
    where = f"kill steps {kill_at} (seed {seed})"
    assert got["losses"].shape == (STEPS,), where
    assert torch.equal(got["losses"], want["losses"]), where
    for name, tensor in want["weights"].items():
        assert torch.equal(got["weights"][name], tensor), f"{name} differs; {where}"
    assert sorted(p.name for p in (tmp_path / "killed").glob("killed-at-*")) == sorted(
        f"killed-at-{k}" for k in kill_at
    )
    lines = (tmp_path / "killed" / "resumes.jsonl").read_text().splitlines()
    resumes = [json.loads(line) for line in lines]
    assert sorted({r["attempt"] for r in resumes}) == [0, 1, 2, 3], where
    assert max(r["resumed_from"] for r in resumes) > 0, where
    record = json.loads((tmp_path / "killed" / "record" / "run.json").read_text())
    assert record["status"] == "ok" and record["exit_code"] == 0, where
    attempts = record["attempts"]
    assert [a["attempt"] for a in attempts] == [0, 1, 2, 3], where
    assert [a["failed_rank"] for a in attempts] == [1, 1, 1, None], where
    assert attempts[-1]["resumed_from"] > 0, where
    print(f"{where}: resumed from {sorted({(r['attempt'], r['resumed_from']) for r in resumes})}")
