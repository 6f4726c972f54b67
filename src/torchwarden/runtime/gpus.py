"""What GPUs this machine has and what is on them: NVML first, torch as the fallback.

NVML (``pynvml``, from the ``nvidia-ml-py`` package) sees every GPU, its utilization
and its processes without creating a CUDA context. torch can only ask each device it
can see for free memory, which creates a context on each (a few hundred MiB), so it
is the fallback. Indices are physical (``nvidia-smi``) indices, as leases use.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["Gpu", "GpuListing", "GpuProcess", "available_gpus", "list_gpus", "visible_indices"]

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
    problems: list[str] = []
    try:
        return _from_nvml()
    except Exception as e:  # NVML raises its own error per cause; all mean "no NVML here"
        problems.append(f"NVML: {_reason(e)}")
    try:
        listing = _from_torch()
    except Exception as e:
        problems.append(f"torch: {_reason(e)}")
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
    """Physical indices a run may lease: the GPUs listed, less those CUDA_VISIBLE_DEVICES hides."""
    listing = list_gpus()
    if listing.source == "torch":  # torch already applied CUDA_VISIBLE_DEVICES
        return [g.index for g in listing.gpus]
    return visible_indices(len(listing.gpus))


def _reason(e: BaseException) -> str:
    if isinstance(e, ModuleNotFoundError):
        return f"{e.name} is not installed (pip install nvidia-ml-py)"
    return str(e) or type(e).__name__


def _from_nvml() -> GpuListing:
    import pynvml

    pynvml.nvmlInit()
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        gpus = tuple(_nvml_gpu(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount()))
    finally:
        pynvml.nvmlShutdown()
    return GpuListing(source="nvml", gpus=gpus, driver=_text(driver), problems=())


def _nvml_gpu(nvml: Any, index: int) -> Gpu:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    try:
        utilization: int | None = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except nvml.NVMLError:  # not supported on some boards and under MIG
        utilization = None
    try:
        running = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
        processes: tuple[GpuProcess, ...] | None = tuple(_process(p) for p in running)
    except nvml.NVMLError:
        processes = None
    return Gpu(
        index=index,
        name=_text(nvml.nvmlDeviceGetName(handle)),
        memory_used=int(memory.used),
        memory_total=int(memory.total),
        utilization=utilization,
        processes=processes,
    )


def _process(info: Any) -> GpuProcess:
    import psutil

    pid = int(info.pid)
    used = getattr(info, "usedGpuMemory", None)
    try:
        proc = psutil.Process(pid)
        user, name = proc.username(), proc.name()
    except (psutil.Error, OSError):  # another PID namespace, or gone already
        user = name = None
    return GpuProcess(pid=pid, used_bytes=int(used) if used else None, user=user, name=name)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value  # older pynvml returns bytes


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
