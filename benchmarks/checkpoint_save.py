"""Checkpoint save: torchwarden vs torch.save and DCP, against the disk's and the copy's limits, one run.

    PYTHONPATH=src python benchmarks/checkpoint_save.py --gb 3.2 --dir /local/disk/tmp --out results/

A model of square Linear layers plus AdamW state (fp32: 3 x 4 bytes a parameter) of
about ``--gb`` GB is saved, in each repeat and in this order, by: a raw write of the same
byte count (64 MiB writes + fsync: the disk's limit), ``torch.save`` to an open file +
fsync, DCP ``save`` (``sync_files=True``), torchwarden's ``Checkpointer.save`` (these four
in a rotating order, each after ``os.sync()``), and ``Checkpointer.save_async`` (the
loop's stall: the call; total: until ``wait()``). The
floor of any snapshot, a copy of every tensor into reused (on GPU: pinned) host memory,
is measured warm. Medians over ``--repeats``. Claims checked (DESIGN.md): the async
stall within 2x the copy floor; the write at >= 80% of the raw disk speed.
Units: GB = 1e9 bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import describe_device

from torchwarden.train import Checkpointer
from torchwarden.train.snapshot import HostArena
from torchwarden.train.tensorfile import Layout

STALL_TARGET = 2.0  # x the copy floor
WRITE_TARGET = 0.80  # x the raw disk speed


def build(
    gb: float, width: int, device: torch.device
) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    layers = max(1, round(gb * 1e9 / (12 * width * width)))
    model = torch.nn.Sequential(*[torch.nn.Linear(width, width, bias=False) for _ in range(layers)])
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # creates exp_avg and exp_avg_sq
    optimizer.zero_grad(set_to_none=True)
    return model, optimizer


def tensors_of(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    out = [p.detach() for p in model.parameters()]
    for state in optimizer.state.values():
        out += [v for v in state.values() if isinstance(v, torch.Tensor)]
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def raw_write(path: Path, buffer: torch.Tensor) -> None:
    view = memoryview(buffer.numpy()).cast("B")
    chunk = 64 << 20
    with open(path, "wb", buffering=0) as f:
        for at in range(0, len(view), chunk):
            f.write(view[at : at + chunk])
        os.fsync(f.fileno())


def torch_save(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    with open(path, "wb") as f:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, f)
        f.flush()
        os.fsync(f.fileno())


def dcp_save(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    from torch.distributed.checkpoint.filesystem import FileSystemWriter
    from torch.distributed.checkpoint.state_dict import get_state_dict
    from torch.distributed.checkpoint.state_dict_saver import save

    model_sd, optim_sd = get_state_dict(model, optimizer)
    writer = FileSystemWriter(str(path), sync_files=True)
    save({"model": model_sd, "optimizer": optim_sd}, storage_writer=writer, no_dist=True)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def measure(args: argparse.Namespace, device: torch.device, root: Path) -> dict[str, Any]:
    model, optimizer = build(args.gb, args.width, device)
    tensors = tensors_of(model, optimizer)
    layout = Layout.of(tensors)
    arena = HostArena()
    arena.stage(tensors, layout)  # allocate (and pin) once, like a save after the first
    floor = [timed(lambda: arena.stage(tensors, layout), device) for _ in range(args.repeats)]
    host = arena.stage(tensors, layout)
    ckpt = Checkpointer(root / "torchwarden", keep=1)
    ckpt.resume(model=model, optimizer=optimizer)
    first_async = timed(lambda: ckpt.save_async(1), device)
    ckpt.wait()
    rows: dict[str, list[float]] = {
        k: [] for k in ("raw", "torch.save", "dcp", "sync", "stall", "async")
    }
    methods: list[tuple[str, Callable[[int], Any]]] = [
        ("raw", lambda i: raw_write(root / "raw.bin", host)),
        ("torch.save", lambda i: torch_save(root / "torch.pt", model, optimizer)),
        ("dcp", lambda i: dcp_save(root / f"dcp{i}", model, optimizer)),
        ("sync", lambda i: ckpt.save(10 * i + 2)),
    ]
    for i in range(args.repeats):
        # rotate the order, and start each from a quiet disk, so that no method
        # inherits the write-back of the one before it
        for name, fn in methods[i % 4 :] + methods[: i % 4]:
            os.sync()
            rows[name].append(timed(lambda fn=fn, i=i: fn(i), device))
        os.sync()
        t0 = time.perf_counter()
        rows["stall"].append(timed(lambda i=i: ckpt.save_async(10 * i + 3), device))
        ckpt.wait()
        rows["async"].append(time.perf_counter() - t0)
        for leftover in (root / "raw.bin", root / "torch.pt", root / f"dcp{i}"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    ckpt.close()
    medians = {k: statistics.median(v) for k, v in rows.items()}
    return {"bytes": layout.total, "tensors": len(tensors), "floor_s": statistics.median(floor),
            "first_async_stall_s": first_async, "median_s": medians, "times_s": rows}  # fmt: skip


def report(result: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    n, m, floor = result["bytes"], result["median_s"], result["floor_s"]
    raw = n / m["raw"]
    where = env["gpu"] or env.get("cpu") or env["device"]
    print(f"{where}, torch {env['torch']}: {n / 1e9:.2f} GB of model + AdamW state in "
          f"{result['tensors']} tensors, median of {len(result['times_s']['raw'])}")  # fmt: skip
    print(f"{'what':44s} {'s':>8s} {'GB/s':>7s} {'vs disk':>8s} {'vs floor':>9s}")
    lines = [("copy to reused host memory (the floor)", floor), ("raw write + fsync (the disk)", m["raw"]),
             ("torch.save + fsync", m["torch.save"]), ("DCP save", m["dcp"]),
             ("torchwarden save (sync)", m["sync"]), ("torchwarden save_async: loop stall", m["stall"]),
             ("torchwarden save_async: until committed", m["async"])]  # fmt: skip
    for name, s in lines:
        print(f"{name:44s} {s:8.3f} {n / s / 1e9:7.2f} {n / s / raw:8.0%} {s / floor:8.1f}x")
    print(f"first save_async stall (allocates the arena): {result['first_async_stall_s']:.3f} s")
    stall_x, write = m["stall"] / floor, (n / m["sync"]) / raw
    claims = {"stall_vs_floor": stall_x, "stall_met": stall_x <= STALL_TARGET,
              "sync_write_vs_disk": write, "write_met": write >= WRITE_TARGET,
              "async_total_vs_disk": (n / m["async"]) / raw}  # fmt: skip
    print(f"claim: async stall within {STALL_TARGET:.0f}x the copy floor: "
          f"{'MET' if claims['stall_met'] else 'NOT MET'} ({stall_x:.2f}x)")  # fmt: skip
    print(f"claim: save writes at >= {WRITE_TARGET:.0%} of the raw disk speed: "
          f"{'MET' if claims['write_met'] else 'NOT MET'} (sync {write:.0%}, "
          f"async total {claims['async_total_vs_disk']:.0%})")  # fmt: skip
    return claims


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--gb", type=float, help="state size in GB (default 3.2 on GPU, 0.25 on CPU)"
    )
    parser.add_argument(
        "--width", type=int, default=0, help="layer width (default 4096 GPU, 1024 CPU)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", help="where to write (default: a temporary directory)")
    parser.add_argument("--out", help="directory for checkpoint_save.json and .txt")
    args = parser.parse_args()
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", torch.cuda.current_device()) if use_cuda else torch.device("cpu")
    args.gb = args.gb or (3.2 if use_cuda else 0.25)
    args.width = args.width or (4096 if use_cuda else 1024)
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="checkpoint-bench-", dir=args.dir))
    try:
        result = measure(args, device, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    env = describe_device(device)
    claims = report(result, env)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        record = {"schema": "torchwarden.benchmark/1", "benchmark": "checkpoint_save", **env,
                  "gb_target": args.gb, "width": args.width, **result, "claims": claims}  # fmt: skip
        (Path(args.out) / "checkpoint_save.json").write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {Path(args.out) / 'checkpoint_save.json'}")


if __name__ == "__main__":
    main()
