"""OOM forensics: what the allocator and the heap looked like when CUDA ran out.

The allocator calls an out-of-memory observer before it raises, so the evidence is
collected while every tensor of the failing step is still alive: requested and free
bytes, memory reserved but unallocated, the largest free cached block, a verdict on
fragmentation, the largest live tensors with their holders, and an allocator snapshot
(``oom_snapshot.pickle``) that PyTorch's memory viewer (pytorch.org/memory_viz) loads.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from torchwarden.findings import OOMFinding, TopTensor
from torchwarden.lifecycle.referrers import find_holders
from torchwarden.lifecycle.sites import recorder
from torchwarden.memory.census import live_tensors, storage_key, storage_nbytes
from torchwarden.memory.counters import device_stats, expandable_segments_enabled
from torchwarden.units import format_bytes

__all__ = ["Allowance", "OOMForensics", "allowance"]

TOP = 10


def _largest_free_block(snapshot: dict[str, Any], device: int) -> int:
    largest = 0
    for segment in snapshot.get("segments", []):
        if segment.get("device") != device:
            continue
        for block in segment.get("blocks", []):
            if block.get("state") == "inactive":
                largest = max(largest, int(block.get("size", 0)))
    return largest


@dataclass(frozen=True)
class Allowance:
    """The memory this run may use on one device, and why that much.

    ``limit`` is the device's memory times the per-process memory fraction (the cap
    ``--memory-fraction`` sets). A MIG slice reports its own memory as the device's,
    so its total is already the slice's. ``free`` is what the run could still get:
    the device's free bytes, but no more than the cap leaves above what is reserved.
    """

    limit: int
    free: int
    fraction: float
    device_total: int
    visible: str | None  # CUDA_VISIBLE_DEVICES, when set: which physical GPUs these are

    def describe(self) -> str:
        where = f" (CUDA_VISIBLE_DEVICES={self.visible})" if self.visible else ""
        if self.fraction < 1.0:
            return (
                f"this run may use {format_bytes(self.limit)} ({self.fraction:g} of "
                f"{format_bytes(self.device_total)}{where}), {format_bytes(self.free)} of it free"
            )
        return f"{format_bytes(self.free)} free of {format_bytes(self.device_total)}{where}"


def allowance(device: int, device_free: int, reserved: int) -> Allowance:
    """What this process may still allocate on ``device``: fraction, visible devices, MIG."""
    # The device's (or MIG slice's) own total: the observer's third argument is already
    # the capped limit under a memory fraction, so it cannot be the base of the fraction.
    device_total = int(torch.cuda.get_device_properties(device).total_memory)
    fraction = float(torch.cuda.get_per_process_memory_fraction(device))
    limit = int(device_total * fraction)
    free = max(0, min(device_free, limit - reserved))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES") or None
    return Allowance(limit, free, fraction, device_total, visible)


def _verdict(requested: int, allowed: Allowance, cached: int, largest: int) -> tuple[str, str]:
    expandable = expandable_segments_enabled()
    if requested <= cached and requested > largest:
        if expandable:
            return (
                "fragmentation: enough memory is cached but none of it in one piece, "
                "even with expandable_segments on",
                "Free long-lived tensors earlier, or lower the batch size.",
            )
        return (
            f"fragmentation: {format_bytes(cached)} is cached but the largest free block is "
            f"{format_bytes(largest)}; expandable_segments would let the cache grow in place",
            "Set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True before starting the run.",
        )
    capped = (
        f" or raise --memory-fraction (now {allowed.fraction:g})" if allowed.fraction < 1 else ""
    )
    return (
        f"not enough memory: {format_bytes(requested)} requested; {allowed.describe()}, "
        f"and {format_bytes(cached)} cached",
        f"Lower the batch size{capped}, use activation checkpointing or mixed precision, or free "
        "tensors held from earlier steps (see the largest live tensors).",
    )


def _top_tensors(device: int) -> tuple[TopTensor, ...]:
    seen: dict[tuple[str, int], torch.Tensor] = {}
    for t in live_tensors():
        if t.device.type == "cuda" and t.device.index == device:
            key = storage_key(t)
            if key is not None and key not in seen:
                seen[key] = t
    top = sorted(seen.values(), key=storage_nbytes, reverse=True)[:TOP]
    seen.clear()
    holders = find_holders(top, exclude=[top], enclosing=None)
    rows = tuple(
        TopTensor(
            holder=holders[id(t)].path,
            site=_site(t),
            nbytes=storage_nbytes(t),
            shape=tuple(t.shape),
            dtype=str(t.dtype).removeprefix("torch."),
        )
        for t in top
    )
    top.clear()
    return rows


def _site(t: torch.Tensor) -> str:
    """The creation site the run knows: recorded now, or when a leak finding saw ``t``."""
    from torchwarden.runtime.steps import active_monitor

    monitor = active_monitor()
    known = recorder.site(t) or (monitor.site_of(t) if monitor is not None else None)
    return known or "unknown (not created during an exact examination)"


class OOMForensics:
    """Attach to the CUDA allocator; ``finding`` holds the evidence after an OOM."""

    def __init__(self, out_dir: Path, memory_fraction: float | None = None) -> None:
        self.out_dir = out_dir
        self.memory_fraction = memory_fraction  # --memory-fraction: the cap the OOM hit
        self.finding: OOMFinding | None = None
        self.snapshot_path: Path | None = None

    def install(self) -> bool:
        attach = getattr(torch._C, "_cuda_attach_out_of_memory_observer", None)
        if not torch.cuda.is_available() or attach is None:
            return False
        attach(self._observe)
        return True

    def _observe(self, device: int, requested: int, allowed: int, device_free: int) -> None:
        # `allowed` is the allocator's own limit (the cap under a memory fraction);
        # allowance() works the cap out from the fraction and the device's total instead.
        if self.finding is not None:
            return  # the first OOM tells the story; retries inside the allocator repeat it
        try:
            self.finding = self._collect(device, requested, device_free)
        except Exception as e:  # forensics must never mask the OOM itself
            self.finding = OOMFinding(
                message=f"CUDA out of memory ({e!r} while collecting evidence)",
                device=f"cuda:{device}",
                requested_bytes=int(requested),
                free_bytes=int(device_free),
            )

    def _collect(self, device: int, requested: int, device_free: int) -> OOMFinding:
        counters = device_stats(device)
        reserved, allocated = counters.reserved, counters.allocated
        snapshot = torch.cuda.memory._snapshot()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.snapshot_path = self.out_dir / "oom_snapshot.pickle"
        with open(self.snapshot_path, "wb") as f:
            pickle.dump(snapshot, f)
        largest = _largest_free_block(snapshot, device)
        cached = reserved - allocated
        allowed = allowance(device, device_free, reserved)
        verdict, fix = _verdict(requested, allowed, cached, largest)
        return OOMFinding(
            message=f"CUDA out of memory on cuda:{device} asking for {format_bytes(requested)}: {verdict}",
            fix=fix,
            device=f"cuda:{device}",
            requested_bytes=int(requested),
            free_bytes=int(device_free),
            limit_bytes=allowed.limit if allowed.fraction < 1 else None,
            memory_fraction=allowed.fraction,
            reserved_bytes=reserved,
            allocated_bytes=allocated,
            reserved_unallocated_bytes=cached,
            largest_free_block_bytes=largest,
            expandable_segments=counters.expandable_segments,
            verdict=verdict,
            snapshot=self.snapshot_path.name,
            top_tensors=_top_tensors(device),
        )
