"""OOM forensics: what the allocator and the heap looked like when CUDA ran out.

The allocator calls an out-of-memory observer before it raises, so the evidence is
collected while every tensor of the failing step is still alive: requested and free
bytes, memory reserved but unallocated, the largest free cached block, a verdict on
fragmentation, the largest live tensors with their holders, and an allocator snapshot
(``oom_snapshot.pickle``) that PyTorch's memory viewer (pytorch.org/memory_viz) loads.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from torchwarden.findings import OOMFinding, TopTensor
from torchwarden.lifecycle.referrers import find_holders
from torchwarden.lifecycle.sites import recorder
from torchwarden.memory.census import live_tensors, storage_key, storage_nbytes
from torchwarden.memory.counters import device_stats, expandable_segments_enabled
from torchwarden.units import format_bytes

__all__ = ["OOMForensics"]

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


def _verdict(requested: int, free: int, cached: int, largest: int) -> tuple[str, str]:
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
    return (
        f"not enough memory: {format_bytes(requested)} requested, {format_bytes(free)} free on "
        f"the device and {format_bytes(cached)} cached",
        "Lower the batch size, use activation checkpointing or mixed precision, or free "
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
            site=recorder.site(t) or "unknown (not created during an exact examination)",
            nbytes=storage_nbytes(t),
            shape=tuple(t.shape),
            dtype=str(t.dtype).removeprefix("torch."),
        )
        for t in top
    )
    top.clear()
    return rows


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
        # `allowed` is the device's total, or the cap when a memory fraction is set: the
        # allocator passes its own limit, so the fraction is never applied twice.
        if self.finding is not None:
            return  # the first OOM tells the story; retries inside the allocator repeat it
        try:
            self.finding = self._collect(device, requested, device_free).replace(
                limit_bytes=None if self.memory_fraction is None else int(allowed)
            )
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
        verdict, fix = _verdict(requested, device_free, cached, largest)
        return OOMFinding(
            message=f"CUDA out of memory on cuda:{device} asking for {format_bytes(requested)}: {verdict}",
            fix=fix,
            device=f"cuda:{device}",
            requested_bytes=int(requested),
            free_bytes=int(device_free),
            reserved_bytes=reserved,
            allocated_bytes=allocated,
            reserved_unallocated_bytes=cached,
            largest_free_block_bytes=largest,
            expandable_segments=counters.expandable_segments,
            verdict=verdict,
            snapshot=self.snapshot_path.name,
            top_tensors=_top_tensors(device),
        )
