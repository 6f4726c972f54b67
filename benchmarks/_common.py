"""Shared by the benchmark scripts: device description, timing helpers, result files."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def describe_device(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "numpy": _numpy_version(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    else:
        info["gpu"] = None
        info["cpu"] = platform.processor() or platform.machine()
    return info


def _numpy_version() -> str | None:
    try:
        import numpy
    except ImportError:
        return None
    return str(numpy.__version__)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds for one call, the device's queued work included."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_s": statistics.median(samples),
        "mean_s": statistics.fmean(samples),
        "p90_s": sorted(samples)[int(0.9 * (len(samples) - 1))],
        "n": len(samples),
    }


def write_result(path: str | None, result: dict[str, Any]) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {path}")


def models() -> dict[str, Any]:
    """The benchmarked models: the bundled example's, and DESIGN.md's anchor
    (6 layers, d=512, batch 32x128 tokens; bf16 autocast on GPU)."""
    from torchwarden.examples.transformer import ExampleConfig

    return {
        "example": ExampleConfig(),
        "anchor": ExampleConfig(
            vocab=1024, seq_len=128, d_model=512, nhead=8, layers=6, dim_ff=2048, batch_size=32
        ),
    }


def training_step(model: str, device: torch.device) -> Callable[[], torch.Tensor]:
    """One AdamW training step of ``model`` on a fixed batch; returns the loss."""
    from torch import nn

    from torchwarden.examples.transformer import SequenceClassifier

    cfg = models()[model]
    torch.manual_seed(0)
    net = SequenceClassifier(cfg).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randint(0, cfg.vocab, (cfg.batch_size, cfg.seq_len), device=device)
    y = torch.randint(0, 2, (cfg.batch_size,), device=device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step() -> torch.Tensor:
        with amp:
            loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def write_outputs(out_dir: str | None, stem: str, text: str, result: dict[str, Any]) -> None:
    """``text`` as printed to ``out_dir/stem.txt`` and ``result`` to ``out_dir/stem.json``."""
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / f"{stem}.txt").write_text(text + "\n")
        write_result(str(Path(out_dir) / f"{stem}.json"), result)
