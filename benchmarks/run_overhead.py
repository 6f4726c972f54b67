"""Cost of `torchwarden run` (default mode) against plain `python`, same script, one run.

The workload times its own steps (optimizer step hook included), so process start-up
and record writing stay out of the figures. Processes differ from each other by several
percent (clocks, memory placement), so plain and governed runs go in back-to-back pairs,
in alternating order, and the figure is the median of the per-pair ratios. A second
figure needs no process at all: the cost of one step boundary (the hook's work) timed
in-process, against the plain step time.

    python benchmarks/run_overhead.py --models example anchor --repeats 3 --out benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import describe_device, timed, training_step, write_result

WORKLOAD = str(Path(__file__).parent / "workloads" / "train_steps.py")


def one(governed: bool, model: str, steps: int, tmp: Path, i: int) -> float:
    times = tmp / f"{'gov' if governed else 'plain'}-{model}-{i}.json"
    cmd = [WORKLOAD, "--model", model, "--steps", str(steps), "--times", str(times)]
    if governed:
        cmd = [
            "-m",
            "torchwarden",
            "run",
            "--no-progress",
            "--no-report",
            "--out",
            str(tmp / f"run-{model}-{i}"),
            *cmd,
        ]
    subprocess.run([sys.executable, *cmd], check=True, capture_output=True, text=True)
    return statistics.median(json.loads(times.read_text()))


def boundary_cost(n: int = 3000) -> dict[str, Any]:
    """Median time of StepMonitor.boundary() with CUDA in use, in microseconds."""
    import time

    from torchwarden.runtime.steps import StepMonitor

    if torch.cuda.is_available():
        keep = torch.ones(1 << 20, device="cuda")  # an initialised allocator with a live block
    monitor = StepMonitor()
    monitor.start()
    for _ in range(50):
        monitor.boundary()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        monitor.boundary()
        times.append(time.perf_counter() - t0)
    monitor.stop()
    if torch.cuda.is_available():
        del keep
    return {"median_us": statistics.median(times) * 1e6, "n": n}


def interleaved(model: str, blocks: int = 12, block: int = 25) -> dict[str, Any]:
    """Both sides in one process: blocks of steps with the run monitor off, then on."""
    from torchwarden.runtime.steps import StepMonitor

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train = training_step(model, device)

    def step() -> float:
        return timed(train, device)

    monitor = StepMonitor()
    monitor.start()  # warm-up governed: first-step examinations and learning happen here
    for _ in range(40):
        step()
    monitor.stop()
    plain: list[float] = []
    governed: list[float] = []
    for i in range(blocks):
        for governed_now in (i % 2 == 1, i % 2 == 0):  # alternate which side goes first
            if governed_now:
                monitor.start()
            (governed if governed_now else plain).extend(step() for _ in range(block))
            if governed_now:
                monitor.stop()
    p, g = statistics.median(plain), statistics.median(governed)
    return {"plain_median_step_s": p, "governed_median_step_s": g, "ratio": g / p, "n": len(plain)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", nargs="+", default=["example"])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    result: dict[str, Any] = {"benchmark": "run_overhead", **describe_device(device), "models": {}}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for model in args.models:
            plain, governed = [], []
            for i in range(args.repeats):
                order = (False, True) if i % 2 == 0 else (True, False)
                pair = {gov: one(gov, model, args.steps, tmp, i) for gov in order}
                plain.append(pair[False])
                governed.append(pair[True])
            ratios = [g / p for p, g in zip(plain, governed)]
            p, g = statistics.median(plain), statistics.median(governed)
            result["models"][model] = {
                "plain_median_step_s": p,
                "governed_median_step_s": g,
                "ratio": statistics.median(ratios),
                "pair_ratios": ratios,
                "plain_runs": plain,
                "governed_runs": governed,
            }
            r = result["models"][model]["ratio"]
            pairs = ", ".join(f"{100 * (x - 1):+.1f}%" for x in ratios)
            print(
                f"{model:8s} plain {p * 1e3:8.3f} ms  torchwarden run {g * 1e3:8.3f} ms  "
                f"overhead {100 * (r - 1):+.2f}% (median of {args.repeats} paired ratios of "
                f"{args.steps}-step runs: {pairs})"
            )
    result["interleaved"] = {}
    for model in args.models:
        r = result["interleaved"][model] = interleaved(model)
        print(f"{model:8s} in one process, monitor off/on in interleaved blocks: plain "
              f"{r['plain_median_step_s'] * 1e3:.3f} ms, governed {r['governed_median_step_s'] * 1e3:.3f} ms, "
              f"overhead {100 * (r['ratio'] - 1):+.2f}% (medians of {r['n']} steps each)")  # fmt: skip
    result["boundary"] = boundary_cost()
    b = result["boundary"]
    print(
        f"one step boundary (hook work, in-process): median {b['median_us']:.1f} us over {b['n']} boundaries"
    )
    for model, m in result["models"].items():
        print(
            f"  = {100 * b['median_us'] * 1e-6 / m['plain_median_step_s']:.2f}% of a plain {model} step"
        )
    print(f"device {result['gpu'] or result['device']}  torch {result['torch']}")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
