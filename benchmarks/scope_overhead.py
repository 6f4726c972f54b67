"""Cost of wrapping every training step in ``torchwarden.scope()`` (default mode).

Both sides run in one process, interleaved in blocks so that clock and thermal drift
hit them alike: the plain step, and the same step inside a scope. Prints medians and
their ratio; a second run plants a leak mid-training and reports the step at which the
default mode named it, with holder and site.

    python benchmarks/scope_overhead.py                   # CPU, the bundled example model
    python benchmarks/scope_overhead.py --device cuda --model anchor --out benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _common import describe_device, summary, timed, write_result

import torchwarden
from torchwarden.examples.transformer import ExampleConfig, SequenceClassifier

MODELS = {
    # the bundled example's model
    "example": ExampleConfig(),
    # DESIGN.md's anchor: 6 layers, d=512, batch 32x128 tokens, bf16 autocast on GPU
    "anchor": ExampleConfig(
        vocab=1024, seq_len=128, d_model=512, nhead=8, layers=6, dim_ff=2048, batch_size=32
    ),
}


def make_step(cfg: ExampleConfig, device: torch.device, leak: list[torch.Tensor] | None) -> Any:
    torch.manual_seed(0)
    model = SequenceClassifier(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randint(0, cfg.vocab, (cfg.batch_size, cfg.seq_len), device=device)
    y = torch.randint(0, 2, (cfg.batch_size,), device=device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    state = {"step": 0}

    def step() -> None:
        with amp:
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["step"] += 1
        if leak is not None and state["step"] >= LEAK_FROM:
            leak.append(loss)  # the planted leak: keeps each step's graph alive

    return step, state


LEAK_FROM = 30


def overhead(cfg: ExampleConfig, device: torch.device, blocks: int, block: int) -> dict[str, Any]:
    step, _ = make_step(cfg, device, None)

    def scoped() -> None:
        with torchwarden.scope("bench-step") as s:
            step()
        modes.append(s.report.mode)

    modes: list[str] = []
    for _ in range(20):  # warm-up: allocator, kernels, and the scope's own learning calls
        step()
        scoped()
    modes.clear()
    plain_t: list[float] = []
    scoped_t: list[float] = []
    for _ in range(blocks):
        plain_t += [timed(step, device) for _ in range(block)]
        scoped_t += [timed(scoped, device) for _ in range(block)]
    p, s = summary(plain_t), summary(scoped_t)
    return {
        "plain": p,
        "scoped": s,
        "ratio_median": s["median_s"] / p["median_s"],
        "ratio_mean": s["mean_s"] / p["mean_s"],
        "exact_calls_measured": modes.count("exact"),
    }


def detection(cfg: ExampleConfig, device: torch.device, steps: int) -> dict[str, Any]:
    leak: list[torch.Tensor] = []
    step, state = make_step(cfg, device, leak)
    for _ in range(steps):
        with torchwarden.scope("bench-leak") as s:
            step()
        if s.report.leaks:
            first = s.report.leaks[0]
            return {
                "leak_from_step": LEAK_FROM,
                "found_at_step": state["step"],
                "steps_to_find": state["step"] - LEAK_FROM + 1,
                "holder": first.holder,
                "site": first.site,
                "graph_bytes": first.graph_bytes,
            }
    return {"leak_from_step": LEAK_FROM, "found_at_step": None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", choices=sorted(MODELS), default="example")
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--block", type=int, default=20)
    parser.add_argument("--out")
    args = parser.parse_args()
    device = torch.device(args.device)
    cfg = MODELS[args.model]
    result: dict[str, Any] = {
        "benchmark": "scope_overhead",
        **describe_device(device),
        "model": args.model,
        "config": cfg.__dict__,
        "overhead": overhead(cfg, device, args.blocks, args.block),
        "detection": detection(cfg, device, LEAK_FROM + 20),
    }
    o, d = result["overhead"], result["detection"]
    print(
        f"device {result['gpu'] or result['device']}  torch {result['torch']}  model {args.model}"
    )
    print(
        f"plain  step median {o['plain']['median_s'] * 1e3:8.3f} ms  mean {o['plain']['mean_s'] * 1e3:8.3f} ms"
    )
    print(
        f"scoped step median {o['scoped']['median_s'] * 1e3:8.3f} ms  mean {o['scoped']['mean_s'] * 1e3:8.3f} ms"
    )
    print(
        f"overhead: median {100 * (o['ratio_median'] - 1):+.2f}%  mean {100 * (o['ratio_mean'] - 1):+.2f}%  "
        f"(exact examinations while measuring: {o['exact_calls_measured']})"
    )
    print(
        f"planted leak from step {d['leak_from_step']}: found at step {d['found_at_step']} "
        f"holder={d.get('holder')} site={d.get('site')}"
    )
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
