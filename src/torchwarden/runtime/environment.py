"""A short description of the machine a run ran on (the full one is `torchwarden doctor`)."""

from __future__ import annotations

import os
import platform
import socket

import torch

from torchwarden.env.gpus import read_nvml
from torchwarden.report.run_record import EnvironmentSummary, GpuSummary

__all__ = ["environment_summary"]


def environment_summary() -> EnvironmentSummary:
    """Python, platform, host, torch, CUDA, driver and the GPUs this process can see."""
    gpus: list[GpuSummary] = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            gpus.append({"index": i, "name": props.name, "memory_total": int(props.total_memory)})
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "driver": read_nvml().driver if gpus else None,  # None where NVML cannot be read
        "gpus": gpus,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
