"""Activation checkpointing: peak activation memory saved against extra step time.

    PYTHONPATH=src python benchmarks/blocks_checkpoint.py --out DIR               # GPU
    PYTHONPATH=src python benchmarks/blocks_checkpoint.py --device cpu --small   # smoke run

A stack of --layers Transformer encoder layers (d_model --width, dropout 0.1, batch
--batch x --seq tokens, bf16 autocast on the GPU) trains with SGD under four plans, in
interleaved repeats, from the same weights and batch:
  plain     nn.Sequential of the layers                        (the baseline)
  every     CheckpointedSequential, one segment per layer       (most memory saved)
  sqrt      CheckpointedSequential, about sqrt(L) segments
  budget    CheckpointedSequential.within_budget(half of plain's measured activations)
Peak activation memory = torch.cuda.max_memory_allocated() during one step minus the
memory allocated before it (weights, gradients, optimizer state excluded); on the CPU
the plan's estimate from a measured forward stands in. Step time = median over repeats
of the mean of --steps steps between two synchronizes. Units: MiB = 2**20 bytes, ms = 1e-3 s.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import describe_device, timed, write_outputs

from torchwarden.nn import CheckpointedSequential, measure_activations

MiB = 2**20


def layers(args: argparse.Namespace, device: torch.device) -> list[nn.Module]:
    torch.manual_seed(0)
    return [
        nn.TransformerEncoderLayer(
            args.width, args.heads, 4 * args.width, dropout=0.1, batch_first=True
        ).to(device)
        for _ in range(args.layers)
    ]


def builders(args: argparse.Namespace, x: torch.Tensor) -> dict[str, Callable[[], nn.Module]]:
    def budget() -> nn.Module:
        blocks = layers(args, x.device)
        with autocast(x):  # measure what the training step will keep
            plain = sum(m.saved_bytes for m in measure_activations(blocks, x))
            return CheckpointedSequential.within_budget(blocks, x, plain // 2)

    return {
        "plain": lambda: nn.Sequential(*layers(args, x.device)),
        "every": lambda: CheckpointedSequential(layers(args, x.device)),
        "sqrt": lambda: CheckpointedSequential(
            layers(args, x.device), segments=max(1, round(math.sqrt(args.layers)))
        ),
        "budget": budget,
    }


def autocast(x: torch.Tensor) -> torch.autocast:
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=x.device.type == "cuda")


def stepper(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    amp = autocast(x)

    def step() -> None:
        with amp:
            loss = model(x).float().square().mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def peak_bytes(step: Callable[[], None], model: nn.Module, x: torch.Tensor) -> int:
    if x.device.type != "cuda":
        return measure_activations([model], x)[0].saved_bytes
    step()  # optimizer state and gradients allocated before measuring
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def measure(args: argparse.Namespace, device: torch.device) -> dict[str, dict[str, Any]]:
    x = torch.randn(args.batch, args.seq, args.width, device=device)
    runs: dict[str, Any] = {}
    for name, build in builders(args, x).items():
        model = build()
        step = stepper(model, x)
        runs[name] = {"model": model, "step": step, "peak": peak_bytes(step, model, x), "t": []}
    for _ in range(args.repeats):  # interleaved: drift hits every plan alike
        for run in runs.values():
            run["t"].append(
                timed(lambda r=run: [r["step"]() for _ in range(args.steps)], device) / args.steps
            )
    base = runs["plain"]
    return {
        name: {
            "peak_activation_MiB": run["peak"] / MiB,
            "memory_vs_plain": run["peak"] / base["peak"],
            "ms_per_step": 1e3 * statistics.median(run["t"]),
            "time_vs_plain": statistics.median(run["t"]) / statistics.median(base["t"]),
            "plan": repr(run["model"].plan) if hasattr(run["model"], "plan") else None,
        }
        for name, run in runs.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--out", help="directory for blocks_checkpoint.{json,txt}")
    args = parser.parse_args(argv)
    if args.small:
        args.layers, args.width, args.heads, args.batch, args.seq = 4, 64, 4, 4, 32
        args.steps, args.repeats = 2, 2
    device = torch.device(args.device)
    rows = measure(args, device)
    lines = [
        f"{args.layers} layers d={args.width} batch {args.batch}x{args.seq} on {device}",
        f"{'plan':<8} {'activations MiB':>16} {'vs plain':>9} {'ms/step':>9} {'vs plain':>9}",
    ]
    for name, r in rows.items():
        lines.append(
            f"{name:<8} {r['peak_activation_MiB']:>16.1f} {r['memory_vs_plain']:>8.2f}x "
            f"{r['ms_per_step']:>9.2f} {r['time_vs_plain']:>8.2f}x"
        )
    print("\n".join(lines))
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    write_outputs(
        args.out,
        "blocks_checkpoint",
        "\n".join(lines),
        {
            "schema": "torchwarden.bench.blocks_checkpoint/1",
            "device": describe_device(device),
            "settings": settings,
            "plans": rows,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
