"""Shared by the benchmark scripts: device description, timing helpers, result files."""

from __future__ import annotations

import datetime as _dt
import json
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
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    else:
        info["gpu"] = None
        info["cpu"] = platform.processor() or platform.machine()
    return info


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
