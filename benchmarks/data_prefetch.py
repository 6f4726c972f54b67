"""An input-bound training loop: host batches through DevicePrefetcher vs data already on the GPU.

    PYTHONPATH=src python benchmarks/data_prefetch.py --out data_prefetch.json

Shapes: x (B, D) float32 from pageable host NumPy, y (B,) int64; an MLP D -> W (x L) -> C.
The model depth L is calibrated so that one GPU step takes about --compute-ratio times the
naive copy of one batch (``torch.from_numpy(x).to(dev)``): the naive loop is then clearly
input-bound. Loops (interleaved per repeat, the same batches cycled):
  resident   batches already on the GPU            (the bound)
  prefetch   DevicePrefetcher over host batches    (claim: within 10% of resident)
  naive      torch.from_numpy(x).to(dev) per step
Time per step = wall clock of --steps steps between two synchronizes, median over repeats.
Units: ms = 1e-3 s; MB = 1e6 bytes; GB/s = 1e9 bytes/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import cycle, islice
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import describe_device
from torch import nn

from torchwarden.data import DevicePrefetcher

TARGET = 1.10
Batch = tuple[Any, Any]


def model(d: int, width: int, layers: int, classes: int, dev: torch.device) -> nn.Module:
    blocks: list[nn.Module] = [nn.Linear(d, width), nn.ReLU()]
    for _ in range(layers):
        blocks += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*blocks, nn.Linear(width, classes)).to(dev)


def train(net: nn.Module, batches: Iterable[Batch], dev: torch.device) -> None:
    opt = torch.optim.SGD(net.parameters(), lr=1e-4)
    for x, y in batches:
        if not isinstance(x, torch.Tensor) or x.device != dev:  # the naive loop
            x, y = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        opt.zero_grad(set_to_none=True)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def per_step(run: Callable[[], object], steps: int) -> float:
    sync()
    start = time.perf_counter()
    run()
    sync()
    return (time.perf_counter() - start) / steps


def copy_time(x: np.ndarray[Any, Any], dev: torch.device) -> float:
    times = [per_step(lambda: torch.from_numpy(x).to(dev), 1) for _ in range(7)]
    return statistics.median(times[2:])


def calibrate(
    args: argparse.Namespace, host: list[Batch], on_dev: list[Batch], dev: torch.device
) -> int:
    """Hidden layers L so that a resident step takes ~compute_ratio x the naive batch copy."""
    target = args.compute_ratio * copy_time(host[0][0], dev)

    def step_time(layers: int) -> float:
        net = model(args.d, args.width, layers, args.classes, dev)
        train(net, on_dev[:2], dev)  # warm-up
        return min(per_step(lambda: train(net, on_dev * 2, dev), 2 * len(on_dev)) for _ in range(3))

    t1, t5 = step_time(1), step_time(5)
    per_layer = max((t5 - t1) / 4, 1e-6)
    return int(min(args.max_layers, max(1, round(1 + (target - t1) / per_layer))))


def loops(
    net: nn.Module, host: list[Batch], on_dev: list[Batch], steps: int, dev: torch.device
) -> dict[str, Callable[[], None]]:
    def take(batches: list[Batch]) -> Iterator[Batch]:
        return islice(cycle(batches), steps)

    return {
        "resident (data already on the GPU)": lambda: train(net, take(on_dev), dev),
        "DevicePrefetcher(host NumPy batches)": lambda: train(net, DevicePrefetcher(take(host), dev), dev),
        "naive: torch.from_numpy(x).to(dev)": lambda: train(net, take(host), dev),
    }  # fmt: skip


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=4096, help="B")
    p.add_argument("--d", type=int, default=4096, help="input features D (B*D*4 bytes a batch)")
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--distinct", type=int, default=8, help="distinct batches, cycled")
    p.add_argument("--steps", type=int, default=100, help="steps per timed run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--compute-ratio", type=float, default=2.0)
    p.add_argument("--max-layers", type=int, default=48)
    p.add_argument("--out", help="write the results as JSON to this path")
    p.add_argument("--device", default="cuda", help="'cpu' only smoke-tests this script")
    return p.parse_args()


def main() -> None:
    args = parse()
    if args.device != "cpu" and not torch.cuda.is_available():
        sys.exit("data_prefetch.py needs a CUDA GPU; none is visible (--device cpu smoke-tests).")
    dev = (
        torch.device("cpu")
        if args.device == "cpu"
        else torch.device("cuda", torch.cuda.current_device())
    )
    rng = np.random.default_rng(0)
    host = [(rng.standard_normal((args.batch, args.d), dtype=np.float32),
             rng.integers(0, args.classes, args.batch)) for _ in range(args.distinct)]  # fmt: skip
    on_dev = [(torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)) for x, y in host]
    layers = calibrate(args, host, on_dev, dev)
    net = model(args.d, args.width, layers, args.classes, dev)
    runs = loops(net, host, on_dev, args.steps, dev)
    for run in runs.values():  # warm-up: allocator, pinned buffers, kernels
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            times[name].append(per_step(run, args.steps))
    med = {k: statistics.median(v) for k, v in times.items()}
    report(args, describe_device(dev), layers, host, med, times)


def report(
    args: argparse.Namespace,
    env: dict[str, Any],
    layers: int,
    host: list[Batch],
    med: dict[str, float],
    times: dict[str, list[float]],
) -> None:
    mb = host[0][0].nbytes / 1e6
    resident, prefetch, naive = med.values()
    print(f"{env['gpu'] or env['device']}, torch {env['torch']}: batch {args.batch}x{args.d} float32 = {mb:.0f} MB, "
          f"MLP {layers} hidden layers of {args.width}, {args.steps} steps, median of {args.repeats}")  # fmt: skip
    print(f"{'loop':40s} {'ms/step':>8s} {'vs resident':>11s}")
    for name, m in med.items():
        print(f"{name:40s} {m * 1e3:8.2f} {m / resident:11.2f}x")
    ratio = prefetch / resident
    verdict = "MET" if ratio <= TARGET else "NOT MET"
    print(f"input-bound: naive is {naive / resident:.2f}x resident; claim: prefetch within "
          f"{TARGET - 1:.0%} of resident: {verdict} ({ratio:.3f}x)")  # fmt: skip
    if args.out:
        record = {"schema": "torchwarden.benchmark/1", "benchmark": "data_prefetch", **env,
                  "config": {**vars(args), "layers": layers, "batch_mb": mb},
                  "loops": [{"loop": k, "median_s_per_step": v, "ratio_to_resident": v / resident,
                             "times_s_per_step": times[k]} for k, v in med.items()],
                  "claim": {"target_ratio": TARGET, "ratio": ratio, "met": ratio <= TARGET}}  # fmt: skip
        with open(args.out, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
