"""Cost of `torchwarden run` (default mode) against plain `python`, same script, one run.

The workload times its own steps (optimizer step hook included), so process start-up
and record writing stay out of the figures. Plain and governed processes alternate.

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
from _common import describe_device, write_result

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", nargs="+", default=["example"])
    parser.add_argument("--repeats", type=int, default=3)
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
                plain.append(one(False, model, args.steps, tmp, i))
                governed.append(one(True, model, args.steps, tmp, i))
            p, g = statistics.median(plain), statistics.median(governed)
            result["models"][model] = {
                "plain_median_step_s": p,
                "governed_median_step_s": g,
                "ratio": g / p,
                "plain_runs": plain,
                "governed_runs": governed,
            }
            print(
                f"{model:8s} plain {p * 1e3:8.3f} ms  torchwarden run {g * 1e3:8.3f} ms  "
                f"overhead {100 * (g / p - 1):+.2f}%  ({args.repeats} runs each, {args.steps} steps)"
            )
    print(f"device {result['gpu'] or result['device']}  torch {result['torch']}")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
