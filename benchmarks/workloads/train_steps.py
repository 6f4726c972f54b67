"""A training loop that times its own steps (the workload of run_overhead.py).

python benchmarks/workloads/train_steps.py --model example --steps 200 --times out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent.parent))
from _common import models, training_step

parser = argparse.ArgumentParser()
parser.add_argument("--model", choices=sorted(models()), default="example")
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--warmup", type=int, default=30)
parser.add_argument("--times", required=True)
args = parser.parse_args()
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
step = training_step(args.model, device)
times = []
for i in range(args.warmup + args.steps):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    if i >= args.warmup:
        times.append(time.perf_counter() - t0)
with open(args.times, "w") as f:
    json.dump(times, f)
