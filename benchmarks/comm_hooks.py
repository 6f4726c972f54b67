"""DDP gradient compression: bytes sent, step time and final loss per hook, against none.

    PYTHONPATH=src python benchmarks/comm_hooks.py --out benchmarks/results/DATE-cpu   # gloo
    PYTHONPATH=src python benchmarks/comm_hooks.py --backend nccl --out DIR            # 2 GPUs

W processes (default 2) train the task of ``torchwarden.examples.ddp_compression`` (an
MLP of width --hidden with --depth extra square layers) for --steps steps with each hook,
from the same initial weights and the same batches; all hooks run in the same processes,
in --rounds interleaved rounds, so the per-hook step time is the median over every
measured step of every round (the first --warmup steps of each run are not measured).

Columns: bytes/step is what one rank sends per step by the ring algorithm (all-reduce:
2(W-1)/W x payload; all-gather: (W-1) x payload), from the hooks' own counters ("none"
is computed from the gradient size; torch's uint8 all-gather hook would send (W-1) x N
bytes: at W=2 the same as int8 here, twice int8's at W=3); ms/step is forward +
backward (communication included) + optimizer step; test loss is the held-out loss of the
final weights of round 1 (ln 2 = 0.693 is chance). Units: ms = 1e-3 s, kB = 1e3 bytes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import describe_device, write_outputs

from torchwarden.examples.ddp_compression import RunSpec, launch, make_model

HOOKS = ["none", "allreduce", "bf16", "fp16", "int8", "topk", "topk@0.1", "powersgd"]


def options(name: str, args: argparse.Namespace) -> dict[str, Any]:
    hook, _, ratio = name.partition("@")  # "topk@0.1": top-k keeping 10%
    if hook == "topk":
        return {"ratio": float(ratio or args.ratio)}
    if hook == "powersgd":
        return {"matrix_approximation_rank": args.rank, "start_powerSGD_iter": 2}
    return {}


def parameter_count(args: argparse.Namespace) -> int:
    return sum(p.numel() for p in make_model(args.hidden, args.depth).parameters())


def measure(args: argparse.Namespace, out: Path) -> dict[str, dict[str, Any]]:
    specs = [
        RunSpec(
            hook=h.partition("@")[0],
            out_dir=str(out),
            steps=args.steps,
            options=options(h, args),
            hidden=args.hidden,
            depth=args.depth,
            lr=args.lr,
            tag=f"{h}-r{r}",
        )
        for r in range(args.rounds)
        for h in args.hooks
    ]
    launch(specs, world=args.world, backend=args.backend)
    rows: dict[str, dict[str, Any]] = {}
    for h in args.hooks:
        results = [
            torch.load(out / f"{h}-r{r}-rank0.pt", weights_only=True) for r in range(args.rounds)
        ]
        times = [t for res in results for t in res["step_times"][args.warmup :]]
        rows[h] = {
            "ms_per_step": 1e3 * statistics.median(times),
            "bytes_per_step": _bytes(h, results[0], args),
            "test_loss": results[0]["test_loss"],
            "train_loss_last10": statistics.fmean(results[0]["losses"][-10:]),
        }
    return rows


def _bytes(hook: str, result: dict[str, Any], args: argparse.Namespace) -> int:
    w, numel = args.world, parameter_count(args)
    if hook == "none":
        return 2 * (w - 1) * 4 * numel // w
    return int(result["bytes_sent"]) // int(result["steps_counted"])


def table(rows: dict[str, dict[str, Any]]) -> str:
    base = rows.get("none") or next(iter(rows.values()))
    lines = [
        f"{'hook':<12} {'kB/step':>9} {'vs none':>8} {'ms/step':>8} {'vs none':>8} "
        f"{'test loss':>9} {'train loss':>10}"
    ]
    for h, r in rows.items():
        lines.append(
            f"{h:<12} {r['bytes_per_step'] / 1e3:>9.1f} "
            f"{r['bytes_per_step'] / base['bytes_per_step']:>7.3f}x "
            f"{r['ms_per_step']:>8.2f} {r['ms_per_step'] / base['ms_per_step']:>7.2f}x "
            f"{r['test_loss']:>9.4f} {r['train_loss_last10']:>10.4f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", default="gloo", choices=["gloo", "nccl"])
    parser.add_argument("--world", type=int, default=2)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--ratio", type=float, default=0.01, help="topk: fraction kept")
    parser.add_argument("--rank", type=int, default=4, help="powersgd: approximation rank")
    parser.add_argument("--hooks", nargs="+", default=HOOKS, help="names; topk@R sets its ratio")
    parser.add_argument("--out", help="directory for comm_hooks.json and comm_hooks.txt")
    args = parser.parse_args(argv)
    if args.backend == "nccl" and torch.cuda.device_count() < args.world:
        parser.error(f"--backend nccl needs {args.world} GPUs, found {torch.cuda.device_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(args, Path(tmp))
    device = torch.device("cuda", 0) if args.backend == "nccl" else torch.device("cpu")
    params = parameter_count(args)
    header = (
        f"{args.world} ranks, {args.backend}, MLP width {args.hidden} depth {args.depth} "
        f"({params / 1e6:.2f} M parameters), {args.steps} steps x {args.rounds} rounds"
    )
    text = header + "\n" + table(rows)
    print(text)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    write_outputs(
        args.out,
        "comm_hooks",
        text,
        {
            "schema": "torchwarden.bench.comm_hooks/1",
            "device": describe_device(device),
            "settings": settings,
            "parameters": params,
            "hooks": rows,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
