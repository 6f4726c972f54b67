"""DDP with a compressing communication hook, checkpointed mid-run and resumed exactly.

Task: the sequence task of ``transformer.py`` (is the first token larger than the last?)
learnt by a small embedding + MLP, data-parallel over W processes. Every rank draws its
batch from a generator seeded by (seed, step, rank), so a resumed run sees the same data
without any sampler state. A checkpoint holds, per rank: model, optimizer, the hook's
state and the RNG that dropout draws from (the CPU's, or the GPU's). Nothing but torch and ``torchwarden.distributed``.

    python -m torchwarden.examples.ddp_compression --hook topk --steps 200
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from torchwarden.distributed import CommHook, register

__all__ = ["RunSpec", "attach", "launch", "make_model", "run", "worker"]

VOCAB, SEQ = 16, 24


@dataclass(frozen=True)
class RunSpec:
    """One training run of one hook; results go to ``out_dir/<tag>-rank<r>.pt``."""

    hook: str
    out_dir: str
    steps: int = 60
    save_at: int | None = None  # write a checkpoint after this many steps
    resume: bool = False  # start from the checkpoint instead of step 0
    options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 64
    lr: float = 0.05
    seed: int = 0
    hidden: int = 128  # width of the MLP
    depth: int = 0  # extra (hidden, hidden) layers, to make the gradients larger
    bucket_cap_mb: float | None = None  # DDP's bucket size (None: DDP's default)
    tag: str = ""  # names the result file; the hook's name when empty
    checkpoint: str = ""  # names the checkpoint file; the tag when empty

    @property
    def name(self) -> str:
        return self.tag or self.hook

    def checkpoint_path(self, rank: int) -> Path:
        return Path(self.out_dir) / f"{self.checkpoint or self.name}-ckpt-rank{rank}.pt"


def make_model(hidden: int = 128, depth: int = 0) -> nn.Module:
    layers: list[nn.Module] = [nn.Embedding(VOCAB, 16), nn.Flatten(), nn.Linear(SEQ * 16, hidden)]
    for _ in range(depth):
        layers += [nn.ReLU(), nn.Linear(hidden, hidden)]
    return nn.Sequential(*layers, nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, 2))


def attach(ddp: nn.parallel.DistributedDataParallel, spec: RunSpec) -> CommHook | None:
    """The spec's hook on ``ddp``; ``none`` keeps DDP's built-in all-reduce."""
    if spec.hook == "none":
        return None
    return register(ddp, spec.hook, **spec.options)


def batch(seed: int, step: int, rank: int, size: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed * 1_000_003 + step * 1_009 + rank)
    tokens = torch.randint(0, VOCAB, (size, SEQ), generator=g)
    return tokens, (tokens[:, 0] > tokens[:, -1]).long()


def run(spec: RunSpec, device: torch.device) -> dict[str, Any]:
    """Train one spec on this rank; return losses, step times, bytes and final weights."""
    rank = dist.get_rank()
    torch.manual_seed(spec.seed)  # the same initial weights on every rank
    model = make_model(spec.hidden, spec.depth).to(device)
    ddp = nn.parallel.DistributedDataParallel(
        model, device_ids=_ids(device), bucket_cap_mb=spec.bucket_cap_mb
    )
    hook = attach(ddp, spec)
    opt = torch.optim.SGD(ddp.parameters(), lr=spec.lr, momentum=0.9)
    torch.manual_seed(spec.seed + 1 + rank)  # dropout differs between ranks
    ckpt = spec.checkpoint_path(rank)
    start = 0
    if spec.resume:
        state = torch.load(ckpt, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        if hook is not None:
            hook.load_state_dict(state["hook"])
        torch.set_rng_state(state["rng"])
        if device.type == "cuda":  # dropout on a GPU draws from the device's generator
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        start = state["step"]
    losses, times = [], []
    for step in range(start, spec.steps):
        x, y = (t.to(device) for t in batch(spec.seed, step, rank, spec.batch_size))
        t0 = _now(device)
        loss = nn.functional.cross_entropy(ddp(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        times.append(_now(device) - t0)
        losses.append(loss.item())
        if spec.save_at == step + 1:
            torch.save(
                {
                    "model": model.state_dict(),
                    "optim": opt.state_dict(),
                    "hook": hook.state_dict() if hook is not None else {},
                    "rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state(device)
                    if device.type == "cuda"
                    else torch.empty(0, dtype=torch.uint8),
                    "step": step + 1,
                },
                ckpt,
            )
    return {
        "losses": losses,
        "step_times": times,
        "bytes_sent": hook.bytes_sent if hook is not None else None,
        "steps_counted": hook.steps if hook is not None else None,
        "test_loss": test_loss(model, spec.seed, device),
        "params": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }


@torch.no_grad()
def test_loss(model: nn.Module, seed: int, device: torch.device) -> float:
    model.eval()
    x, y = (t.to(device) for t in batch(seed + 7, 0, 10_000, 4096))
    loss = nn.functional.cross_entropy(model(x), y).item()
    model.train()
    return loss


def _ids(device: torch.device) -> list[int] | None:
    return [device.index] if device.type == "cuda" else None


def _now(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def worker(rank: int, world: int, store: str, specs: list[RunSpec], backend: str) -> None:
    """One rank: run every spec in order, each result saved by rank."""
    torch.set_num_threads(1)  # W ranks share the host's cores
    device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)  # before the group, so NCCL binds this rank's GPU
    dist.init_process_group(backend, init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        for spec in specs:
            result = run(spec, device)
            if rank == 0:
                took = sum(result["step_times"])
                print(f"{spec.name}: {len(result['losses'])} steps in {took:.1f} s", flush=True)
            torch.save(result, Path(spec.out_dir) / f"{spec.name}-rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def launch(specs: list[RunSpec], world: int = 2, backend: str = "gloo") -> None:
    """Run ``specs`` in ``world`` fresh processes (one process group for all of them)."""
    from torch.multiprocessing.spawn import spawn

    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "store")
        spawn(  # type: ignore[no-untyped-call]
            worker, args=(world, store, specs, backend), nprocs=world, join=True
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hook", default="topk")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--world", type=int, default=2)
    parser.add_argument("--backend", default="nccl" if torch.cuda.is_available() else "gloo")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as out:
        spec = RunSpec(hook=args.hook, out_dir=out, steps=args.steps, save_at=args.steps // 2)
        launch([spec], args.world, args.backend)
        resumed = replace(spec, save_at=None, resume=True, checkpoint=args.hook)
        launch([resumed], args.world, args.backend)
        result = torch.load(Path(out) / f"{args.hook}-rank0.pt", weights_only=True)
    print(f"{args.hook}: resumed at step {args.steps // 2}, test loss {result['test_loss']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
