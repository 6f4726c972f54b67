"""A training loop that times its own steps (the workload of run_overhead.py).

python benchmarks/workloads/train_steps.py --model example --steps 200 --times out.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from torchwarden.examples.transformer import ExampleConfig, SequenceClassifier

MODELS = {
    "example": ExampleConfig(),
    "anchor": ExampleConfig(
        vocab=1024, seq_len=128, d_model=512, nhead=8, layers=6, dim_ff=2048, batch_size=32
    ),
}

parser = argparse.ArgumentParser()
parser.add_argument("--model", choices=sorted(MODELS), default="example")
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--warmup", type=int, default=30)
parser.add_argument("--times", required=True)
args = parser.parse_args()
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
cfg = MODELS[args.model]
torch.manual_seed(0)
model = SequenceClassifier(cfg).to(device)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
loss_fn = nn.CrossEntropyLoss()
x = torch.randint(0, cfg.vocab, (cfg.batch_size, cfg.seq_len), device=device)
y = torch.randint(0, 2, (cfg.batch_size,), device=device)
amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
times = []
for step in range(args.warmup + args.steps):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with amp:
        loss = loss_fn(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    if step >= args.warmup:
        times.append(time.perf_counter() - t0)
with open(args.times, "w") as f:
    json.dump(times, f)
