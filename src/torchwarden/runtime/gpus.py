"""What GPUs this machine has and what is on them: NVML first, torch as the fallback.

NVML (read by :mod:`torchwarden.env.gpus`, its one reader) sees every GPU, its
utilization and its processes without creating a CUDA context. torch can only ask each
device it can see for free memory, which creates a context on each (a few hundred MiB),
so it is the fallback. Indices are physical (``nvidia-smi``) indices, as leases use.

``TORCHWARDEN_FAKE_GPU_COUNT=N`` makes :func:`available_gpus` answer ``0..N-1`` without
asking the driver: a stand-in so machines without GPUs (CI) exercise the same lease
path as GPU machines.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Literal

from torchwarden.env.gpus import NvmlProcess, read_nvml
from torchwarden.errors import RunError

__all__ = [
    "FAKE_GPU_COUNT_VAR",
    "Gpu",
    "GpuListing",
    "GpuProcess",
    "available_gpus",
    "list_gpus",
    "visible_indices",
]

FAKE_GPU_COUNT_VAR = "TORCHWARDEN_FAKE_GPU_COUNT"

Source = Literal["nvml", "torch"]


@dataclass(frozen=True)
class GpuProcess:
    """A process with a CUDA context on a GPU (NVML only)."""

    pid: int
    used_bytes: int | None  # None where the driver does not say (containers, MIG)
    user: str | None
    name: str | None


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_used: int  # bytes
    memory_total: int  # bytes
    utilization: int | None  # percent of time a kernel ran, over the last sample period
    processes: tuple[GpuProcess, ...] | None  # None: unknown (torch fallback)
    temperature: int | None = None  # degrees Celsius (NVML only; None: unknown)


@dataclass(frozen=True)
class GpuListing:
    source: Source | None  # None: no GPU found by either
    gpus: tuple[Gpu, ...]
    driver: str | None
    problems: tuple[str, ...]  # why NVML or torch could not list GPUs

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "driver": self.driver,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "gpus": [asdict(g) for g in self.gpus],
            "problems": list(self.problems),
        }


def list_gpus() -> GpuListing:
    """Every GPU NVML sees; failing that, every GPU torch sees; failing that, none and why."""
    listing = _from_nvml()
    if listing.source is not None:
        return listing
    problems = list(listing.problems)
    try:
        listing = _from_torch()
    except Exception as e:  # a broken CUDA install raises from deep inside torch
        problems.append(f"torch: {str(e) or type(e).__name__}")
    else:
        if listing.gpus:
            return listing
        problems.extend(listing.problems)
    return GpuListing(source=None, gpus=(), driver=None, problems=tuple(problems))


def visible_indices(count: int) -> list[int]:
    """Physical indices this process may use among ``count`` GPUs, per CUDA_VISIBLE_DEVICES."""
    listed = _parse_visible()
    if listed is None:
        return list(range(count))
    return [i for i in listed if i < count]


def _parse_visible() -> list[int] | None:
    """CUDA_VISIBLE_DEVICES as indices (``None``: unset, so all GPUs are visible).

    CUDA stops reading the variable at the first entry it cannot parse; this does the
    same. Entries given as UUIDs are not resolved here and end the list likewise.
    """
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    out: list[int] = []
    for part in value.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) in out:
            break
        out.append(int(part))
    return out


def available_gpus() -> list[int]:
    """Physical indices a run may lease: the GPUs listed, less those CUDA_VISIBLE_DEVICES hides.

    With ``TORCHWARDEN_FAKE_GPU_COUNT=N`` set, ``0..N-1`` (see the module docstring).
    """
    fake = os.environ.get(FAKE_GPU_COUNT_VAR)
    if fake is not None:
        return list(range(_fake_count(fake)))
    listing = list_gpus()
    if listing.source == "torch":  # torch already applied CUDA_VISIBLE_DEVICES
        return [g.index for g in listing.gpus]
    return visible_indices(len(listing.gpus))


def _fake_count(value: str) -> int:
    if not value.strip().isdigit():
        raise RunError(
            f"{FAKE_GPU_COUNT_VAR}={value!r}: expected a number of stand-in GPUs (0 or more); "
            f"unset it to list the real ones."
        )
    return int(value)


def _from_nvml() -> GpuListing:
    reading = read_nvml()
    if reading.error is not None:
        return GpuListing(source=None, gpus=(), driver=None, problems=(f"NVML: {reading.error}",))
    gpus = tuple(
        Gpu(
            index=g.index,
            name=g.name,
            memory_used=g.memory_used,
            memory_total=g.memory_total,
            utilization=g.utilization,
            processes=None if g.processes is None else tuple(_process(p) for p in g.processes),
            temperature=g.temperature,
        )
        for g in reading.gpus
    )
    return GpuListing(source="nvml", gpus=gpus, driver=reading.driver, problems=())


def _process(seen: NvmlProcess) -> GpuProcess:
    import psutil

    try:
        proc = psutil.Process(seen.pid)
        user, name = proc.username(), proc.name()
    except (psutil.Error, OSError):  # another PID namespace, or gone already
        user = name = None
    return GpuProcess(pid=seen.pid, used_bytes=seen.used_bytes, user=user, name=name)


def _from_torch() -> GpuListing:
    import torch

    if not torch.cuda.is_available():
        build = (
            "a CPU build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        )
        reason = f"torch {torch.__version__} ({build}) reports CUDA unavailable"
        return GpuListing(source="torch", gpus=(), driver=None, problems=(f"torch: {reason}",))
    physical = _parse_visible() or []  # torch numbers visible GPUs from 0; map back
    gpus = []
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        index = physical[i] if i < len(physical) else i
        name = torch.cuda.get_device_name(i)
        gpus.append(Gpu(index, name, total - free, total, None, None))
    return GpuListing(source="torch", gpus=tuple(gpus), driver=None, problems=())
