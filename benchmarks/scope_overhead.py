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

sys.path.insert(0, str(Path(__file__).parent))
from _common import describe_device, models, summary, timed, training_step, write_result

import torchwarden

LEAK_FROM = 30


def make_step(model: str, device: torch.device, leak: list[torch.Tensor] | None) -> Any:
    train = training_step(model, device)
    state = {"step": 0}

    def step() -> None:
        loss = train()
        state["step"] += 1
        if leak is not None and state["step"] >= LEAK_FROM:
            leak.append(loss)  # the planted leak: each kept loss is one more tensor

    return step, state


def overhead(model: str, device: torch.device, blocks: int, block: int) -> dict[str, Any]:
    step, _ = make_step(model, device, None)

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


def detection(model: str, device: torch.device, steps: int) -> dict[str, Any]:
    leak: list[torch.Tensor] = []
    step, state = make_step(model, device, leak)
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
    parser.add_argument("--model", choices=sorted(models()), default="example")
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--block", type=int, default=20)
    parser.add_argument("--out")
    args = parser.parse_args()
    device = torch.device(args.device)
    result: dict[str, Any] = {
        "benchmark": "scope_overhead",
        **describe_device(device),
        "model": args.model,
        "config": models()[args.model].__dict__,
        "overhead": overhead(args.model, device, args.blocks, args.block),
        "detection": detection(args.model, device, LEAK_FROM + 20),
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
