"""Exact examination cost against heap size, and governance's share of a governed loop.

For each heap size (extra live Python objects, as a framework process holds), it
measures one exact examination (open and close of the step monitor's scope around a
training step), then runs the same training loop with and without a StepMonitor
(default budget, 1.5 %) in one process, interleaved, and reports both loop times, the
overhead, and the share of run time the schedule spent examining.

    python benchmarks/examine_cost.py --heaps 0 100000 300000 1000000 --out results/x
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _common import describe_device, write_result

from torchwarden.lifecycle.scope import TensorScope
from torchwarden.runtime.steps import StepMonitor


def _heap(n: int) -> list[Any]:
    """``n`` small gc-tracked objects, as a framework's heap holds (dicts, lists, tuples)."""
    return [{"i": i, "v": [i]} if i % 2 else (i, [i]) for i in range(n // 2)]


def _loop(steps: int, step_ms: float) -> tuple[nn.Module, Any]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 256))
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    x = torch.randn(64, 256)

    def run() -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            until = time.perf_counter() + step_ms / 1e3  # the step's own work, fixed
            loss = model(x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            while time.perf_counter() < until:
                pass
        return time.perf_counter() - t0

    return model, run


def examination_s(repeats: int) -> float:
    model = nn.Linear(256, 256)
    x = torch.randn(64, 256)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        scope = TensorScope("bench", mode="exact", results="running").open()
        model(x).sum().backward()
        scope.close()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def governed_share(steps: int, step_ms: float, rounds: int) -> dict[str, float]:
    _, run = _loop(steps, step_ms)
    plain, governed, shares = [], [], []
    for _ in range(rounds):  # interleaved: drift affects both sides alike
        plain.append(run())
        monitor = StepMonitor()
        monitor.start()
        try:
            governed.append(run())
        finally:
            monitor.stop()
        shares.append(monitor.exam_share)
        gc.collect()
    p, g = statistics.median(plain), statistics.median(governed)
    return {
        "plain_s": p,
        "governed_s": g,
        "overhead": g / p - 1,
        "exam_share": statistics.median(shares),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--heaps", type=int, nargs="+", default=[0, 100_000, 300_000, 1_000_000])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--step-ms", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", help="a directory for examine_cost.json")
    args = parser.parse_args()
    rows = []
    for n in args.heaps:
        ballast = _heap(n)
        live = len(gc.get_objects())
        exam = examination_s(3)
        loop = governed_share(args.steps, args.step_ms, args.rounds)
        rows.append({"extra_objects": n, "gc_objects": live, "examination_s": exam, **loop})
        print(
            f"heap {live:>9,} objects  examination {exam * 1e3:8.1f} ms  "
            f"loop plain {loop['plain_s']:.2f} s  governed {loop['governed_s']:.2f} s  "
            f"overhead {loop['overhead'] * 100:+.2f} %  examining {loop['exam_share'] * 100:.2f} %",
            flush=True,
        )
        del ballast
        gc.collect()
    result = {
        "device": describe_device(torch.device("cpu")),
        "steps": args.steps,
        "step_ms": args.step_ms,
        "rows": rows,
    }
    write_result(f"{args.out}/examine_cost.json" if args.out else None, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
