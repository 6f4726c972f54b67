"""Sharded state (FSDP2 over gloo on CPU, 2 real ranks): DCP inside the commit protocol."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchwarden.train import verify_checkpoint
from torchwarden.train.loading import choose

WORKER = Path(__file__).with_name("_sharded_worker.py")


@pytest.fixture(scope="module")
def sharded_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sharded")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += [str(WORKER), str(out / "ckpt"), str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.mark.slow
def test_resume_of_sharded_state_is_exact_on_every_rank(sharded_run: Path) -> None:
    for rank in (0, 1):
        result = json.loads((sharded_run / f"rank{rank}.json").read_text())
        assert result["start"] == 3
        assert result["got"] == result["expected"]  # the async save was of step 3, not later


@pytest.mark.slow
def test_manifest_covers_every_shard(sharded_run: Path) -> None:
    path = sharded_run / "ckpt" / "step-000000000003"
    manifest = verify_checkpoint(path)
    names = {f.name for f in manifest.files}
    assert manifest.format == "dcp" and manifest.world_size == 2
    assert {".metadata", "__0_0.distcp", "__1_0.distcp", "rank-00000.pt", "rank-00001.pt"} <= names
    assert names == {p.name for p in path.iterdir()} - {"manifest.json"}


@pytest.mark.slow
def test_a_damaged_shard_is_skipped(sharded_run: Path) -> None:
    shard = sharded_run / "ckpt" / "step-000000000003" / "__1_0.distcp"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 1
    shard.write_bytes(bytes(data))
    _, manifest, findings = choose(sharded_run / "ckpt", verify=True)
    assert manifest is not None and manifest.step == 2
    assert "__1_0.distcp has SHA-256" in findings[0].message
