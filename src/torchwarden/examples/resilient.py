"""Resilient data-parallel training: kill it anywhere, restart it, get the same model bit for bit.

    torchrun --nproc-per-node 2 --max-restarts 3 -m torchwarden.examples.resilient --out run1

Each rank trains a small MLP with dropout on a synthetic regression set (made from a
seed, nothing downloaded) under DDP: gloo on CPU, NCCL with deterministic algorithms
on GPUs. A checkpoint is saved asynchronously every ``--save-every`` steps; when
torchrun restarts the workers they resume from the newest checkpoint that verifies,
so the final weights and the loss curve equal those of a run never interrupted.
SIGTERM (what torchrun sends the survivors when a worker dies) makes a worker leave
at once, even while it waits for the dead peer. In ``--out``: ``checkpoints/``,
``resumes.jsonl`` (attempt, rank, step resumed from), ``left.jsonl`` (who left on a
signal, at which step) and ``final.pt`` (rank 0: weights and per-step losses).
``--kill-at 7,19`` makes ``--kill-rank`` SIGKILL itself the first time it reaches
each of those steps (a marker file per step makes it happen once), for tests.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset

from torchwarden.train import Checkpointer, ResumableSampler, leave_promptly


class LossHistory:
    """The per-step losses, saved with the checkpoint so a resumed run's curve is whole."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def state_dict(self) -> dict[str, Any]:
        return {"losses": torch.tensor(self.losses, dtype=torch.float64)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.losses = state["losses"].tolist()


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="directory for checkpoints and records")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--save-every", type=int, default=3)
    p.add_argument("--kill-at", default="", help="comma-separated steps at which to SIGKILL")
    p.add_argument("--kill-rank", type=int, default=1)
    return p.parse_args(argv)


def _setup() -> torch.device:
    if torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before any cuBLAS call
        torch.use_deterministic_algorithms(True)
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    return device


def _data(device: torch.device) -> TensorDataset:
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(512, 16, generator=g)
    y = (x @ torch.randn(16, 1, generator=g)).sin()
    return TensorDataset(x.to(device), y.to(device))


def _append(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as f:  # one short line per write: appends from ranks do not interleave
        f.write(json.dumps(record) + "\n")


def _batches(data: TensorDataset, sampler: ResumableSampler) -> Any:
    # Starting a DataLoader iterator draws a seed from its generator; give it its own,
    # or the draw comes from torch's global RNG and a resumed run's dropout masks shift.
    loader = DataLoader(data, batch_size=16, sampler=sampler, generator=torch.Generator())
    return iter(loader)


def _maybe_die(args: argparse.Namespace, rank: int, step: int) -> None:
    kill_at = {int(s) for s in args.kill_at.split(",") if s}
    marker = args.out / f"killed-at-{step}"
    if rank == args.kill_rank and step in kill_at and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Training:
    """Everything the loop changes, so everything the checkpoint must hold."""

    net: torch.nn.Module
    model: DistributedDataParallel
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    data: TensorDataset
    sampler: ResumableSampler
    history: LossHistory = field(default_factory=LossHistory)


def _build(device: torch.device) -> Training:
    torch.manual_seed(0)  # the same initial model on every rank
    net = torch.nn.Sequential(
        torch.nn.Linear(16, 64), torch.nn.GELU(), torch.nn.Dropout(0.1), torch.nn.Linear(64, 1)
    ).to(device)
    model = DistributedDataParallel(net)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.7)
    data = _data(device)
    return Training(net, model, optimizer, scheduler, data, ResumableSampler(data, seed=7))


def _step(t: Training, x: torch.Tensor, y: torch.Tensor) -> None:
    loss = F.mse_loss(t.model(x), y)
    t.optimizer.zero_grad()
    loss.backward()  # type: ignore[no-untyped-call]
    t.optimizer.step()
    t.scheduler.step()
    t.history.losses.append(loss.item())


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    device = _setup()
    rank, attempt = dist.get_rank(), int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))
    at = {"attempt": attempt, "rank": rank, "step": 0}
    leave_promptly(lambda s: _append(args.out / "left.jsonl", {**at, "signal": s}))
    t = _build(device)
    torch.manual_seed(100 + rank)  # dropout masks differ by rank; the checkpoint keeps them exact
    ckpt = Checkpointer(args.out / "checkpoints", keep=2)
    start = ckpt.resume(
        model=t.model, optimizer=t.optimizer, scheduler=t.scheduler, loader=t.sampler,
        extras={"history": t.history},
    )  # fmt: skip
    _append(args.out / "resumes.jsonl", {"attempt": attempt, "rank": rank, "resumed_from": start})
    if rank == 0:
        print(f"attempt {attempt}: resumed from step {start} of {args.steps}", flush=True)
    batches = _batches(t.data, t.sampler)
    for step in range(start, args.steps):
        at["step"] = step
        _maybe_die(args, rank, step)
        batch = next(batches, None)
        if batch is None:  # the end of an epoch: the sampler starts the next one
            batches = _batches(t.data, t.sampler)
            batch = next(batches)
        _step(t, *batch)
        if (step + 1) % args.save_every == 0:
            ckpt.save_async(step + 1)
    ckpt.close()
    if rank == 0:
        weights = {k: v.cpu() for k, v in t.net.state_dict().items()}
        torch.save(
            {"weights": weights, "losses": t.history.state_dict()["losses"]}, args.out / "final.pt"
        )
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
