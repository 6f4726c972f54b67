"""One rank of the sharded-checkpoint test (FSDP2 on CPU, gloo); run by test_sharded.py."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

DEVICE = os.environ.get("SHARDED_TEST_DEVICE", "cpu")  # "cuda" on the GPU machine (NCCL)


def _model() -> torch.nn.Module:
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import init_device_mesh

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    model = model.to(DEVICE)
    mesh = init_device_mesh(DEVICE, (dist.get_world_size(),))
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def _steps(model: torch.nn.Module, optimizer: torch.optim.Optimizer, n: int) -> list[float]:
    losses = []
    for _ in range(n):
        x = torch.randn(4, 8).to(DEVICE)
        loss = model(x).pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def main(root: Path, out: Path) -> None:
    from torchwarden.train import Checkpointer

    if DEVICE == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(10 + rank)
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    with Checkpointer(root, keep=2) as ckpt:
        assert ckpt.resume(model=model, optimizer=optimizer) == 0
        _steps(model, optimizer, 2)
        ckpt.save(2)
        _steps(model, optimizer, 1)
        ckpt.save_async(3)
        expected = _steps(model, optimizer, 3)  # changes the state while the save is written
        ckpt.wait()
    torch.manual_seed(99)
    fresh = _model()
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=1e-2)
    with Checkpointer(root, keep=2) as ckpt:
        start = ckpt.resume(model=fresh, optimizer=fresh_opt)
        got = _steps(fresh, fresh_opt, 3)
    result = {"rank": rank, "start": start, "expected": expected, "got": got}
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
    os._exit(0)
