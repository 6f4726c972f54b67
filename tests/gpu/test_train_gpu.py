"""torchwarden.train on real GPUs: CUDA RNG per device, pinned async snapshots, exact 2-GPU resume."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torchwarden.train import Checkpointer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
# NVLink multicast off in every process on the shared GPU machines
NCCL_ENV = {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "NVSHMEM_DISABLE_NVLS": "1",
}


def test_cuda_rng_of_every_device_round_trips(tmp_path: Path) -> None:
    devices = range(torch.cuda.device_count())
    for d in devices:
        torch.cuda.manual_seed_all(d)
        torch.rand(1, device=f"cuda:{d}")
    model = torch.nn.Linear(4, 4).cuda()
    with Checkpointer(tmp_path) as ckpt:
        ckpt.resume(model=model)
        ckpt.save(1)
    expected = [torch.rand(8, device=f"cuda:{d}").cpu() for d in devices]
    torch.cuda.manual_seed_all(1234)
    with Checkpointer(tmp_path) as ckpt:
        assert ckpt.resume(model=model) == 1
    got = [torch.rand(8, device=f"cuda:{d}").cpu() for d in devices]
    assert all(torch.equal(a, b) for a, b in zip(expected, got))


def test_async_snapshot_is_pinned_and_isolated_from_the_loop(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.Linear(256, 256)).cuda()
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(8, 256, device="cuda")).sum().backward()
    optimizer.step()
    with Checkpointer(tmp_path) as ckpt:
        ckpt.resume(model=model, optimizer=optimizer)
        ckpt.save_async(1)
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        assert ckpt._arena._buffer is not None and ckpt._arena._buffer.is_pinned()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)  # the loop goes on while the save is written
        ckpt.save_async(2)  # waits for the first, reuses the pinned arena
        buffer = ckpt._arena._buffer
        ckpt.wait()
        ckpt.save_async(3)
        assert ckpt._arena._buffer is buffer
    fresh = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.Linear(256, 256)).cuda()

    shutil.rmtree(tmp_path / "step-000000000003")
    shutil.rmtree(tmp_path / "step-000000000002")
    with Checkpointer(tmp_path) as ckpt:
        assert ckpt.resume(model=fresh) == 1
    for name, tensor in fresh.state_dict().items():
        assert torch.equal(tensor, saved[name]), name


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_two_gpu_nccl_run_killed_at_random_steps_resumes_bit_for_bit(tmp_path: Path) -> None:
    rng = random.Random()
    kill_at = [rng.randrange(lo, lo + 8) for lo in (3, 12, 21)]
    env = {**os.environ, **NCCL_ENV, "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}

    def torchrun(out: Path, kills: list[int]) -> subprocess.Popen[bytes]:
        out.mkdir()
        if kills:  # the killed run goes through torchwarden run, the reference through torchrun
            cmd = [sys.executable, "-m", "torchwarden", "run", "--no-progress", "--no-leak-check"]
            cmd += ["--nproc-per-node", "2", "--out", str(out / "record")]
        else:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
            cmd += ["--nproc-per-node", "2"]
        cmd += ["--max-restarts", str(len(kills)), "-m", "torchwarden.examples.resilient"]
        cmd += ["--out", str(out), "--steps", "30", "--kill-at", ",".join(map(str, kills))]
        with open(out / "torchrun.log", "wb") as log:
            return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)

    runs = {
        "killed": torchrun(tmp_path / "killed", kill_at),
        "reference": torchrun(tmp_path / "reference", []),
    }
    final = {}
    for name, proc in runs.items():
        assert proc.wait(timeout=400) == 0, (tmp_path / name / "torchrun.log").read_text()[-4000:]
        final[name] = torch.load(tmp_path / name / "final.pt", weights_only=True)
    got, want = final["killed"], final["reference"]
    assert torch.equal(got["losses"], want["losses"]), f"kill steps {kill_at}"
    for name, tensor in want["weights"].items():
        assert torch.equal(got["weights"][name], tensor), f"{name}; kill steps {kill_at}"
    lines = (tmp_path / "killed" / "resumes.jsonl").read_text().splitlines()
    resumes = sorted({(r["attempt"], r["resumed_from"]) for r in map(json.loads, lines)})
    record = json.loads((tmp_path / "killed" / "record" / "run.json").read_text())
    assert [a["attempt"] for a in record["attempts"]] == [0, 1, 2, 3], record["attempts"]
    print(
        f"kill steps {kill_at}: (attempt, resumed from) {resumes}; final loss {want['losses'][-1]:.6f}"
    )


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_fsdp_on_two_gpus_resumes_exactly_from_a_pinned_async_save(tmp_path: Path) -> None:
    worker = Path(__file__).parents[1] / "train" / "_sharded_worker.py"
    env = {**os.environ, **NCCL_ENV, "SHARDED_TEST_DEVICE": "cuda"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += [str(worker), str(tmp_path / "ckpt"), str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for rank in (0, 1):
        result = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert result["start"] == 3 and result["got"] == result["expected"]
