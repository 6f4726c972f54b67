"""Cheap memory counters: CUDA caching-allocator statistics and process RSS.

This module is the one reader of ``torch.cuda.memory_stats``: the scope engine's
per-step counters (:func:`allocator_triples`), ``torchwarden.memory.stats`` and the
runtime's out-of-memory forensics (:func:`device_stats`) all read the allocator here.
Units are bytes throughout. Reading these counters costs microseconds; nothing here
initialises CUDA unless a CUDA device is named explicitly.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import torch

from torchwarden.errors import MemoryStatsError
from torchwarden.memory.census import live_tensors, unique_storage_bytes

__all__ = [
    "CPUMemory",
    "CUDAMemory",
    "allocator_triples",
    "cpu_rss",
    "cuda_devices_in_use",
    "device_stats",
    "expandable_segments_enabled",
    "stats",
]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class CUDAMemory:
    """One CUDA device's caching-allocator counters (bytes).

    ``inactive_split`` is cached memory in blocks split for an allocation and now free:
    the part of ``reserved - allocated`` that fragmentation makes hard to reuse.
    """

    device: str
    allocated: int
    reserved: int
    active: int
    peak_allocated: int
    peak_reserved: int
    alloc_retries: int
    ooms: int
    expandable_segments: bool
    inactive_split: int = 0

    @property
    def fragmentation(self) -> float:
        """Reserved but unallocated, as a share of reserved (0 when nothing is reserved)."""
        return (self.reserved - self.allocated) / self.reserved if self.reserved else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fragmentation": round(self.fragmentation, 4)}


@dataclass(frozen=True)
class CPUMemory:
    """The process's resident memory and the CPU tensor bytes Python can see (bytes)."""

    device: str
    rss: int
    tensor_bytes: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_statm: dict[int, int] = {}  # pid -> open fd of /proc/self/statm (re-read with pread)


def cpu_rss() -> int:
    """Resident set size of this process in bytes (reads /proc; psutil elsewhere).

    The file stays open and is re-read with ``pread``: a few microseconds, not the
    ten that open/read/close cost, because it is read at every step.
    """
    pid = os.getpid()  # a forked child must not share its parent's descriptor
    try:
        fd = _statm.get(pid)
        if fd is None:
            fd = _statm[pid] = os.open("/proc/self/statm", os.O_RDONLY)
        return int(os.pread(fd, 128, 0).split()[1]) * _PAGE
    except OSError:
        import psutil

        return int(psutil.Process().memory_info().rss)


def expandable_segments_enabled() -> bool:
    """Whether the CUDA allocator was configured with ``expandable_segments:True``."""
    for var in ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF"):
        conf = os.environ.get(var, "").replace(" ", "").lower()
        if "expandable_segments:true" in conf:
            return True
    return False


def cuda_devices_in_use() -> list[int]:
    """Indices of CUDA devices this process can see, without initialising CUDA."""
    # is_initialized() first: it is a flag read, cheap enough for every step
    if not torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        return []
    return list(range(torch.cuda.device_count()))


def _all(stats: dict[str, Any], name: str) -> dict[str, int]:
    return stats.get(name, {}).get("all", {})  # type: ignore[no-any-return]


def _cuda(index: int) -> CUDAMemory:
    # the nested form is what torch builds first: the flat one costs a second pass
    s = torch.cuda.memory_stats_as_nested_dict(index)
    allocated, reserved = _all(s, "allocated_bytes"), _all(s, "reserved_bytes")
    return CUDAMemory(
        device=f"cuda:{index}",
        allocated=int(allocated.get("current", 0)),
        reserved=int(reserved.get("current", 0)),
        active=int(_all(s, "active_bytes").get("current", 0)),
        peak_allocated=int(allocated.get("peak", 0)),
        peak_reserved=int(reserved.get("peak", 0)),
        alloc_retries=int(s.get("num_alloc_retries", 0)),
        ooms=int(s.get("num_ooms", 0)),
        expandable_segments=expandable_segments_enabled(),
        inactive_split=int(_all(s, "inactive_split_bytes").get("current", 0)),
    )


def allocator_triples() -> tuple[tuple[int, int, int], ...]:
    """(allocated, reserved, peak allocated) per initialised CUDA device, as plain tuples.

    The per-step path keeps these rather than dataclasses: tuples of ints are untracked
    by the garbage collector, so a long run's step records do not slow collections.
    """
    out = []
    for i in cuda_devices_in_use():
        s = torch.cuda.memory_stats_as_nested_dict(i)
        a, r = _all(s, "allocated_bytes"), _all(s, "reserved_bytes")
        out.append((int(a.get("current", 0)), int(r.get("current", 0)), int(a.get("peak", 0))))
    return tuple(out)


def _cpu(census: bool) -> CPUMemory:
    tensor_bytes = None
    if census:
        tensor_bytes = unique_storage_bytes(t for t in live_tensors() if t.device.type == "cpu")
    return CPUMemory(device="cpu", rss=cpu_rss(), tensor_bytes=tensor_bytes)


def stats(
    device: torch.device | str | int | None = None, *, census: bool = True
) -> list[CUDAMemory | CPUMemory]:
    """Memory counters for ``device``, or for the CPU and every CUDA device in use.

    ``device=None`` lists the CPU and each CUDA device this process has initialised
    (it never initialises CUDA itself). ``census=False`` skips counting CPU tensor
    bytes, which walks the Python heap (tens of milliseconds).

    >>> [m.device for m in stats("cpu", census=False)]
    ['cpu']
    """
    if device is None:
        out: list[CUDAMemory | CPUMemory] = [_cpu(census)]
        out.extend(_cuda(i) for i in cuda_devices_in_use())
        return out
    dev = _device(device)
    if dev.type == "cpu":
        return [_cpu(census)]
    if dev.type == "cuda":
        return [_cuda(_cuda_index(dev, "stats"))]
    raise MemoryStatsError(
        f"memory.stats({device!r}): unsupported device type {dev.type!r}; use 'cpu' or 'cuda[:N]'."
    )


def device_stats(device: torch.device | str | int) -> CUDAMemory:
    """The caching-allocator counters of one CUDA device (``2``, ``"cuda:2"``, a device).

    For code that must read the allocator itself (out-of-memory forensics): one call,
    one typed answer, in bytes. ``"cuda"`` means the current device.
    """
    dev = _device(device)
    if dev.type != "cuda":
        raise MemoryStatsError(
            f"memory.device_stats({device!r}) reads the CUDA allocator: pass 'cuda[:N]' or an "
            "index; memory.stats('cpu') reads the process's CPU memory."
        )
    return _cuda(_cuda_index(dev, "device_stats"))


def _device(device: torch.device | str | int) -> torch.device:
    return torch.device("cuda", device) if isinstance(device, int) else torch.device(device)


def _cuda_index(dev: torch.device, caller: str) -> int:
    if not torch.cuda.is_available():
        raise MemoryStatsError(
            f"memory.{caller}({str(dev)!r}): CUDA is not available in this process. "
            "Pass device='cpu' or device=None, or run on a machine with a CUDA GPU."
        )
    return dev.index if dev.index is not None else torch.cuda.current_device()
